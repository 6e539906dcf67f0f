/**
 * The Verification section of a task page (src/pipeline/verify/verify.md [V10]): pick a mode (count,
 * hash, rows) and start a verification job (`POST .../verify`; a 409 says one is already running);
 * the task's jobs, newest first (status, mode, created and finished times, duration, the tables that
 * differ); one job opened with its per-table results (source and destination rows, differences,
 * duration, status, error) and, in rows mode, each differing row (kind, key, the differing columns
 * with both values, long values abbreviated with their size). The list and the opened job are read
 * every second while a job is queued or running, every 5 s otherwise (a job started elsewhere shows
 * up). A status this console does not know (a newer server's) is shown as it is, in a gray badge.
 */
import { Alert, Button, Card, Code, Group, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
// The CLI report's own abbreviation (pure, no server code): both show a long value the same way.
import { abbreviatePair, abbreviateValue } from '../../src/core/row-difference.ts';
import { ApiError, type ApiClient, type Verification, type VerifyMode } from './api-client.ts';
import { useTexts, type TextKey } from './dictionary.ts';
import { formatMs, formatNumber } from './format.ts';
import { StatusBadge } from './status-badge.tsx';

/** Statuses of a job that has not ended: the view polls fast while one is listed. */
const OPEN_STATUSES: ReadonlySet<string> = new Set(['queued', 'running']);
/** Poll periods (ms): while a job is queued or running, and otherwise. */
const POLL_OPEN_MS = 1000;
const POLL_IDLE_MS = 5000;

/** What made a job ([V7], [V9]), as the list says it. */
const TRIGGER_WORDS = {
  request: 'triggerRequest',
  schedule: 'triggerSchedule',
  sample: 'triggerSample',
} as const satisfies Record<Verification['trigger'], string>;

/** The modes in the order of the select, with their descriptions. */
const MODES: readonly { value: VerifyMode; text: TextKey }[] = [
  { value: 'count', text: 'modeCount' },
  { value: 'hash', text: 'modeHash' },
  { value: 'rows', text: 'modeRows' },
];

type TableResult = NonNullable<Verification['results']>[number];
type DifferingRow = NonNullable<TableResult['differingRows']>[number];
type Translate = ReturnType<typeof useTexts>;

function messageOf(e: unknown): string {
  return e instanceof ApiError ? e.message : String(e);
}

function timeOf(iso: string | null): string {
  return iso === null ? '–' : new Date(iso).toLocaleString();
}

/** Wall time of a job from its start to its end, `–` until it ends. */
function durationOf(j: Verification): string {
  if (j.startedAt === null || j.finishedAt === null) return '–';
  return formatMs(Date.parse(j.finishedAt) - Date.parse(j.startedAt));
}

/** `table (differences)` of each table that did not pass, `–` before the job has results. */
function differingTablesOf(j: Verification): string {
  if (j.results === null) return '–';
  return j.results
    .filter((r) => r.status !== 'passed')
    .map((r) => `${r.table} (${r.differences})`)
    .join(', ');
}

/** The Verification section of task `taskId`'s page. */
export function VerificationPanel(props: { api: ApiClient; taskId: string }) {
  const t = useTexts();
  const { api, taskId } = props;
  // The API's default mode.
  const [mode, setMode] = useState<VerifyMode>('hash');
  const [jobs, setJobs] = useState<Verification[] | null>(null);
  const [openId, setOpenId] = useState<string | null>(null);
  const [opened, setOpened] = useState<Verification | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [conflict, setConflict] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  /** Bumped to read again at once (after a start). */
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      let next = POLL_IDLE_MS;
      try {
        const [list, one] = await Promise.all([
          api.verifications(taskId),
          openId === null ? Promise.resolve(null) : api.verification(taskId, openId),
        ]);
        if (stopped) return;
        setJobs(list);
        setOpened(one);
        setError(null);
        if (list.some((j) => OPEN_STATUSES.has(j.status))) next = POLL_OPEN_MS;
        // The job that refused a start has ended: the refusal no longer holds.
        else setConflict(null);
      } catch (e) {
        if (stopped) return;
        setError(messageOf(e));
      }
      timer = setTimeout(() => void poll(), next);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, taskId, openId, reload]);

  const start = async () => {
    setStarting(true);
    setError(null);
    setConflict(null);
    try {
      const job = await api.verify(taskId, { mode });
      setOpenId(job.id);
      setReload((n) => n + 1);
    } catch (e) {
      // 409: a job of this task is queued or running (one at a time, [V6]).
      if (e instanceof ApiError && e.status === 409) setConflict(e.message);
      else setError(messageOf(e));
    } finally {
      setStarting(false);
    }
  };

  const shown = opened !== null && opened.id === openId ? opened : null;
  return (
    <Card withBorder>
      <Stack>
        <Title order={4}>{t('verification')}</Title>
        <Group align="flex-end">
          <Select
            label={t('verificationMode')}
            data={MODES.map((m) => ({ value: m.value, label: t(m.text) }))}
            value={mode}
            allowDeselect={false}
            onChange={(v) => {
              const m = MODES.find((x) => x.value === v);
              if (m !== undefined) setMode(m.value);
            }}
            w={320}
          />
          <Button loading={starting} onClick={() => void start()}>
            {t('startVerification')}
          </Button>
        </Group>
        {conflict !== null && (
          <Alert
            color="yellow"
            role="alert"
            data-testid="verification-conflict"
            withCloseButton
            closeButtonLabel={t('close')}
            onClose={() => setConflict(null)}
          >
            <Text size="sm">{t('verificationAlreadyRunning')}</Text>
            <Text size="xs" c="dimmed">
              {conflict}
            </Text>
          </Alert>
        )}
        {error !== null && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        <Title order={5}>{t('verifications')}</Title>
        {jobs === null || jobs.length === 0 ? (
          <Text size="sm">{jobs === null ? t('loading') : t('none')}</Text>
        ) : (
          <Table.ScrollContainer minWidth={860}>
            <Table aria-label={t('verifications')}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('status')}</Table.Th>
                  <Table.Th>{t('mode')}</Table.Th>
                  <Table.Th>{t('trigger')}</Table.Th>
                  <Table.Th>{t('created')}</Table.Th>
                  <Table.Th>{t('finished')}</Table.Th>
                  <Table.Th>{t('duration')}</Table.Th>
                  <Table.Th>{t('differingTables')}</Table.Th>
                  <Table.Th>{t('actions')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {jobs.map((j) => (
                  <Table.Tr
                    key={j.id}
                    data-verification={j.id}
                    data-opened={j.id === openId}
                    {...(j.id === openId ? { bg: 'var(--mantine-color-blue-light)' } : {})}
                  >
                    <Table.Td>
                      <StatusBadge value={j.status} />
                    </Table.Td>
                    <Table.Td>{j.mode}</Table.Td>
                    <Table.Td data-testid="trigger">{t(TRIGGER_WORDS[j.trigger])}</Table.Td>
                    <Table.Td>{timeOf(j.createdAt)}</Table.Td>
                    <Table.Td>{timeOf(j.finishedAt)}</Table.Td>
                    <Table.Td>{durationOf(j)}</Table.Td>
                    <Table.Td data-testid="differing-tables">{differingTablesOf(j)}</Table.Td>
                    <Table.Td>
                      <Button
                        size="compact-sm"
                        variant="light"
                        aria-label={`${t('openVerification')} ${j.id}`}
                        onClick={() => setOpenId(j.id)}
                      >
                        {t('openVerification')}
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {shown !== null && <VerificationDetails job={shown} t={t} onClose={() => setOpenId(null)} />}
      </Stack>
    </Card>
  );
}

/** One opened job: its per-table results and, in rows mode, its differing rows. */
function VerificationDetails(props: { job: Verification; t: Translate; onClose: () => void }) {
  const { job, t } = props;
  return (
    <Card withBorder data-testid="verification-details" data-verification={job.id} data-status={job.status}>
      <Stack>
        <Group justify="space-between">
          <Group>
            <Title order={5}>{t('verificationOf', { id: job.id })}</Title>
            <StatusBadge value={job.status} />
            <Text size="sm">
              {t('mode')}: {job.mode}
            </Text>
            <Text size="sm">{job.tables === null ? t('allTables') : job.tables.join(', ')}</Text>
          </Group>
          <Button size="compact-sm" variant="default" onClick={props.onClose}>
            {t('close')}
          </Button>
        </Group>
        {job.error !== null && (
          <Alert color="red" title={t('error')}>
            {job.error}
          </Alert>
        )}
        {job.results !== null && (
          <Table.ScrollContainer minWidth={860}>
            <Table aria-label={t('verificationResults')} withTableBorder>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('table')}</Table.Th>
                  <Table.Th>{t('status')}</Table.Th>
                  <Table.Th>{t('sourceRows')}</Table.Th>
                  <Table.Th>{t('destinationRows')}</Table.Th>
                  <Table.Th>{t('differences')}</Table.Th>
                  <Table.Th>{t('duration')}</Table.Th>
                  <Table.Th>{t('error')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {job.results.map((r) => (
                  <Table.Tr key={r.table} data-verify-table={r.table} data-differences={r.differences}>
                    <Table.Td>{r.table}</Table.Td>
                    <Table.Td>
                      <StatusBadge value={r.status} />
                    </Table.Td>
                    <Table.Td>{formatNumber(r.sourceRows)}</Table.Td>
                    <Table.Td>{formatNumber(r.destinationRows)}</Table.Td>
                    <Table.Td>
                      {/* count and hash modes give a lower bound ([V6]). */}
                      {job.mode !== 'rows' && r.differences > 0 ? '≥ ' : ''}
                      {formatNumber(r.differences)}
                    </Table.Td>
                    <Table.Td>{formatMs(r.durationMs)}</Table.Td>
                    <Table.Td>{r.error ?? ''}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {job.results?.map((r) =>
          r.differingRows === undefined || r.differingRows.length === 0 ? null : (
            <DifferingRows key={r.table} result={r} rows={r.differingRows} t={t} />
          ),
        )}
      </Stack>
    </Card>
  );
}

/** `id=5, region=eu` from a row's key and the key columns. */
function keyText(keyColumns: readonly string[], key: readonly (string | null)[] | undefined): string {
  if (key === undefined) return '';
  return key.map((v, i) => `${keyColumns[i] ?? `#${i}`}=${v ?? 'NULL'}`).join(', ');
}

/** One `column=value` line per column of a whole row (values abbreviated). */
function rowText(columns: readonly string[], values: readonly (string | null)[]): string {
  return values.map((v, i) => `${columns[i] ?? `#${i}`}=${abbreviateValue(v)}`).join('\n');
}

/**
 * The differing rows of one table: a missing or extra row on one line with its values on its side
 * (a keyless one with its copies on each side); a `different` row with one line per differing column
 * and both values.
 */
function DifferingRows(props: { result: TableResult; rows: readonly DifferingRow[]; t: Translate }) {
  const { result, t } = props;
  const columns = result.columns ?? [];
  const keyColumns = result.keyColumns ?? [];
  const pre = { whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' } as const;
  const lines = props.rows.flatMap((d, n) => {
    const key = keyText(keyColumns, d.key);
    switch (d.kind) {
      case 'missing':
      case 'extra': {
        const values = rowText(columns, d.kind === 'missing' ? d.source : d.destination);
        const copies =
          d.key === undefined
            ? t('copies', { source: String(d.copies.source), destination: String(d.copies.destination) })
            : '';
        return [
          <Table.Tr key={n} data-kind={d.kind} data-key={key}>
            <Table.Td>{t(d.kind === 'missing' ? 'kindMissing' : 'kindExtra')}</Table.Td>
            <Table.Td>{key === '' ? copies : key}</Table.Td>
            <Table.Td />
            <Table.Td style={pre}>{d.kind === 'missing' ? values : ''}</Table.Td>
            <Table.Td style={pre}>{d.kind === 'extra' ? values : ''}</Table.Td>
          </Table.Tr>,
        ];
      }
      case 'different':
        return d.columns.map((c, i) => {
          const [a, b] = abbreviatePair(d.source[c] ?? null, d.destination[c] ?? null);
          const column = columns[c] ?? `#${c}`;
          return (
            <Table.Tr key={`${n}:${c}`} data-kind={d.kind} data-key={key} data-column={column}>
              {i === 0 && <Table.Td rowSpan={d.columns.length}>{t('kindDifferent')}</Table.Td>}
              {i === 0 && <Table.Td rowSpan={d.columns.length}>{key}</Table.Td>}
              <Table.Td>{column}</Table.Td>
              <Table.Td style={pre}>{a}</Table.Td>
              <Table.Td style={pre}>{b}</Table.Td>
            </Table.Tr>
          );
        });
      default: {
        // A kind a newer server reports: shown by name rather than breaking the page.
        const unknown: never = d;
        return [
          <Table.Tr key={n} data-kind={String((unknown as { kind: unknown }).kind)}>
            <Table.Td colSpan={5}>
              <Code>{JSON.stringify(unknown)}</Code>
            </Table.Td>
          </Table.Tr>,
        ];
      }
    }
  });
  return (
    <Stack gap="xs">
      <Title order={6}>{t('differingRowsOf', { table: result.table })}</Title>
      <Table.ScrollContainer minWidth={860}>
        <Table aria-label={t('differingRowsOf', { table: result.table })} withTableBorder withColumnBorders>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('kind')}</Table.Th>
              <Table.Th>{t('key')}</Table.Th>
              <Table.Th>{t('column')}</Table.Th>
              <Table.Th>{t('sourceValue')}</Table.Th>
              <Table.Th>{t('destinationValue')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>{lines}</Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {result.truncated === true && (
        <Text size="xs" c="dimmed">
          {t('differingRowsCut', { n: String(props.rows.length) })}
        </Text>
      )}
    </Stack>
  );
}
