/** The login form: the API token, checked with one API call before it is kept. */
import { Button, Center, Group, Paper, PasswordInput, Stack, Title } from '@mantine/core';
import { useState, type ReactNode } from 'react';
import { ApiClient, ApiError } from './api-client.ts';
import { useTexts } from './dictionary.ts';

/** Asks for the token; `onLogin` gets it once the API accepted it. */
export function LoginPage(props: { onLogin: (token: string) => void; languageSwitch: ReactNode }) {
  const t = useTexts();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      await new ApiClient(token.trim()).dataSources();
      props.onLogin(token.trim());
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Center h="100vh">
      <Paper withBorder shadow="sm" p="xl" w={460}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void submit();
          }}
        >
          <Stack>
            <Group justify="space-between">
              <Title order={3}>{t('loginTitle')}</Title>
              {props.languageSwitch}
            </Group>
            <PasswordInput
              label={t('apiToken')}
              description={t('apiTokenHint')}
              value={token}
              onChange={(e) => setToken(e.currentTarget.value)}
              autoFocus
              required
              // The API's refusal is about the token: it shows under the field.
              error={error}
            />
            <Button type="submit" loading={busy}>
              {t('login')}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
