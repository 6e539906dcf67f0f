/**
 * A task's precheck: each item with pass / warn / fail, message and fix; Ignore on an ignorable
 * warning; Precheck again; Start, enabled only when the precheck of the current definition passed.
 */
import { Alert, Button, Group, Stack, Table } from '@mantine/core';
import { useState } from 'react';
import { ApiError, type ApiClient, type PrecheckReport } from './api-client.ts';
import { useTexts } from './dictionary.ts';
import { StatusBadge } from './status-badge.tsx';

/** Failures first, then warnings, then passes (the precheck's order within each). */
const SEVERITY = { fail: 0, warn: 1, pass: 2 } as const;

/** The precheck of task `taskId`, starting from `report`. */
export function PrecheckPanel(props: {
  api: ApiClient;
  taskId: string;
  report: PrecheckReport;
  onReport: (r: PrecheckReport) => void;
  onStarted: () => void;
}) {
  const t = useTexts();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const run = async (what: string, f: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(null);
    }
  };
  const r = props.report;
  return (
    <Stack>
      <Alert color={r.passed ? 'green' : 'yellow'} data-testid="precheck-summary">
        {r.passed ? t('precheckPassed') : t('precheckNotPassed')}
      </Alert>
      <Table.ScrollContainer minWidth={960}>
        <Table withTableBorder aria-label={t('stepPrecheck')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('check')}</Table.Th>
              <Table.Th>{t('status')}</Table.Th>
              <Table.Th>{t('message')}</Table.Th>
              <Table.Th>{t('fix')}</Table.Th>
              <Table.Th>{t('actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {[...r.items]
              .sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status])
              .map((i) => (
                <Table.Tr key={i.id} data-item={i.id}>
                  <Table.Td>{i.title}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      <StatusBadge value={i.status} />
                      {i.ignored && <StatusBadge value={t('ignored')} />}
                    </Group>
                  </Table.Td>
                  <Table.Td>{i.message}</Table.Td>
                  <Table.Td>{i.fix ?? ''}</Table.Td>
                  <Table.Td>
                    {i.status === 'warn' && i.ignorable && !i.ignored && (
                      <Button
                        size="compact-sm"
                        variant="light"
                        color="yellow"
                        loading={busy === i.id}
                        onClick={() =>
                          void run(i.id, async () => {
                            await props.api.ignore(props.taskId, i.id);
                            props.onReport(await props.api.lastPrecheck(props.taskId));
                          })
                        }
                      >
                        {t('ignore')}
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      <Group>
        <Button
          variant="default"
          loading={busy === 'precheck'}
          onClick={() =>
            void run('precheck', async () => props.onReport(await props.api.precheck(props.taskId)))
          }
        >
          {t('precheckAgain')}
        </Button>
        <Button
          disabled={!r.passed}
          loading={busy === 'start'}
          onClick={() =>
            void run('start', async () => {
              await props.api.act(props.taskId, 'start');
              props.onStarted();
            })
          }
        >
          {t('start')}
        </Button>
      </Group>
    </Stack>
  );
}
