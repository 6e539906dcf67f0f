/**
 * The console's shell: the login gate (the API token in sessionStorage), the header with the
 * navigation and the language switch, and the page of the current route.
 */
import { AppShell, Burger, Button, Group, NavLink, SegmentedControl, Title } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useMemo, useState } from 'react';
import { ApiClient, TOKEN_KEY } from './api-client.ts';
import { DataSourcesPage } from './data-sources-page.tsx';
import { LanguageContext, translate, type Language } from './dictionary.ts';
import { LoginPage } from './login-page.tsx';
import { navigate, routeOf, useLocation } from './router.ts';
import { TaskPage } from './task-page.tsx';
import { TaskWizard } from './task-wizard.tsx';
import { TasksPage } from './tasks-page.tsx';

const LANG_KEY = 'pgdts.lang';

/** The whole console. */
export function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const [lang, setLangState] = useState<Language>(() =>
    localStorage.getItem(LANG_KEY) === 'zh' ? 'zh' : 'en',
  );
  const setLang = (l: Language) => {
    localStorage.setItem(LANG_KEY, l);
    document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
    setLangState(l);
  };
  const path = useLocation();
  // On a narrow window the navigation folds behind a burger button.
  const [navOpen, nav] = useDisclosure(false);
  const route = routeOf(path);
  const api = useMemo(() => (token === null ? null : new ApiClient(token)), [token]);
  const t = (k: Parameters<typeof translate>[1]) => translate(lang, k);

  const languageSwitch = (
    <SegmentedControl
      aria-label={t('language')}
      size="xs"
      value={lang}
      onChange={(v) => setLang(v === 'zh' ? 'zh' : 'en')}
      data={[
        { value: 'en', label: 'English' },
        { value: 'zh', label: '中文' },
      ]}
    />
  );

  return (
    <LanguageContext.Provider value={{ lang, setLang }}>
      {api === null ? (
        <LoginPage
          languageSwitch={languageSwitch}
          onLogin={(tk) => {
            sessionStorage.setItem(TOKEN_KEY, tk);
            setToken(tk);
          }}
        />
      ) : (
        <AppShell
          header={{ height: 56 }}
          navbar={{ width: 200, breakpoint: 'sm', collapsed: { mobile: !navOpen } }}
          padding="md"
        >
          <AppShell.Header>
            <Group h="100%" px="md" justify="space-between" wrap="nowrap">
              <Group wrap="nowrap" gap="xs">
                <Burger
                  opened={navOpen}
                  onClick={nav.toggle}
                  hiddenFrom="sm"
                  size="sm"
                  aria-label={t('menu')}
                />
                <Title order={3} style={{ whiteSpace: 'nowrap' }}>
                  {t('appTitle')}
                </Title>
              </Group>
              <Group wrap="nowrap" gap="xs">
                {languageSwitch}
                <Button
                  variant="subtle"
                  size="xs"
                  onClick={() => {
                    sessionStorage.removeItem(TOKEN_KEY);
                    setToken(null);
                  }}
                >
                  {t('logout')}
                </Button>
              </Group>
            </Group>
          </AppShell.Header>
          <AppShell.Navbar p="xs" component="nav">
            {(
              [
                ['/data-sources', 'dataSources', route.page === 'data-sources'],
                ['/tasks', 'tasks', route.page === 'tasks' || route.page === 'task'],
                ['/tasks/new', 'newTask', route.page === 'new-task'],
              ] as const
            ).map(([href, key, active]) => (
              <NavLink
                key={href}
                href={href}
                label={t(key)}
                active={active}
                onClick={(e) => {
                  e.preventDefault();
                  nav.close();
                  navigate(href);
                }}
              />
            ))}
          </AppShell.Navbar>
          <AppShell.Main>
            {route.page === 'data-sources' && <DataSourcesPage api={api} />}
            {route.page === 'tasks' && <TasksPage api={api} />}
            {route.page === 'new-task' && <TaskWizard api={api} />}
            {route.page === 'task' && <TaskPage api={api} id={route.id} />}
          </AppShell.Main>
        </AppShell>
      )}
    </LanguageContext.Provider>
  );
}
