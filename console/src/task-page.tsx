/**
 * A task's page: state and phase with the phase timeline (when this page saw each phase begin),
 * per-table progress bars, live charts of lag (ms and bytes), throughput (rows/s, bytes/s) and the
 * WAL the slot retains on the source, from its /status polled every second, recent log lines
 * (/logs?after=), alerts now and their history (/alerts), Pause / Resume / Release with confirmation, a throttle change applied
 * while it runs (PATCH), its precheck while it has not started, and its verifications
 * (verification-panel.tsx).
 */
import {
  Alert,
  Button,
  Card,
  Code,
  Group,
  NumberInput,
  Progress,
  SimpleGrid,
  Stack,
  Stepper,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import {
  ApiError,
  type ApiClient,
  type PrecheckReport,
  type TaskAlerts,
  type TaskLogs,
  type TaskStatus,
  type TaskTables,
  type TaskView,
} from './api-client.ts';
import { ConfirmButton } from './confirm-button.tsx';
import { useTexts } from './dictionary.ts';
import { formatBytes, formatMs, formatNumber } from './format.ts';
import { PrecheckPanel } from './precheck-panel.tsx';
import { StatusBadge } from './status-badge.tsx';
import { TimeChart, type ChartSeries } from './time-chart.tsx';
import { VerificationPanel } from './verification-panel.tsx';

/** Points kept per chart series (10 minutes at one a second). */
const MAX_POINTS = 600;
/** The phases of a run, in order (task-status.ts RUN_PHASES). */
const PHASES: readonly NonNullable<TaskStatus['phase']>[] = [
  'precheck',
  'schema',
  'full',
  'indexes',
  'sequences',
  'incremental',
  'done',
];

interface Throttle {
  readonly rowsPerSecond?: number;
}

const NOT_STARTED = new Set(['created', 'prechecking', 'precheck-failed', 'precheck-passed']);

interface Samples {
  lagMs: [number, number][];
  lagBytes: [number, number][];
  rows: [number, number][];
  bytes: [number, number][];
  wal: [number, number][];
}

function push(a: [number, number][], at: number, v: number | null): [number, number][] {
  if (v === null) return a;
  const out = [...a, [at, v] as [number, number]];
  return out.length > MAX_POINTS ? out.slice(out.length - MAX_POINTS) : out;
}

/** The page of task `id`. */
export function TaskPage(props: { api: ApiClient; id: string }) {
  const t = useTexts();
  const { api, id } = props;
  const [task, setTask] = useState<TaskView | null>(null);
  const [status, setStatus] = useState<TaskStatus | null>(null);
  const [tables, setTables] = useState<TaskTables['items']>([]);
  const [logs, setLogs] = useState<TaskLogs['items']>([]);
  const [alertHistory, setAlertHistory] = useState<TaskAlerts['items']>([]);
  const [samples, setSamples] = useState<Samples>({
    lagMs: [],
    lagBytes: [],
    rows: [],
    bytes: [],
    wal: [],
  });
  /** When this page first saw each phase (ms since the epoch): the status holds only the current one. */
  const [phaseSeen, setPhaseSeen] = useState<Partial<Record<NonNullable<TaskStatus['phase']>, number>>>({});
  const [error, setError] = useState<string | null>(null);
  const [precheck, setPrecheck] = useState<PrecheckReport | null>(null);
  const [fullRows, setFullRows] = useState<number | ''>('');
  const [incRows, setIncRows] = useState<number | ''>('');
  const [throttleNote, setThrottleNote] = useState<string | null>(null);
  const logNext = useRef(0);
  const logBox = useRef<HTMLPreElement | null>(null);
  // The newest log line stays in view.
  useEffect(() => {
    logBox.current?.scrollTo({ top: logBox.current.scrollHeight });
  }, [logs]);

  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const [tk, st, tb, al] = await Promise.all([
          api.task(id),
          api.status(id),
          api.tables(id),
          api.alerts(id),
        ]);
        const lg = await api.logs(id, logNext.current);
        if (stopped) return;
        logNext.current = lg.next;
        setTask(tk);
        setStatus(st);
        setTables(tb.items);
        setAlertHistory(al.items);
        if (lg.items.length > 0) setLogs((old) => [...old, ...lg.items].slice(-200));
        const at = st.statusAt === null ? Date.now() : Date.parse(st.statusAt);
        setSamples((old) =>
          old.lagMs.at(-1)?.[0] === at && old.rows.at(-1)?.[0] === at
            ? old
            : {
                lagMs: push(old.lagMs, at, st.lagMs),
                lagBytes: push(old.lagBytes, at, st.lagBytes),
                rows: push(old.rows, at, st.state === 'running' ? st.rowsPerSecond : null),
                bytes: push(old.bytes, at, st.state === 'running' ? st.bytesPerSecond : null),
                wal: push(old.wal, at, st.retainedWalBytes),
              },
        );
        const phase = st.phase;
        if (phase !== null) setPhaseSeen((old) => (old[phase] !== undefined ? old : { ...old, [phase]: at }));
        setError(null);
      } catch (e) {
        if (!stopped) setError(e instanceof ApiError ? e.message : String(e));
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), 1000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [api, id]);

  // The throttle fields start from the definition's limits.
  const loaded = task !== null;
  useEffect(() => {
    if (!loaded || task === null) return;
    const d = task.definition as { full?: { throttle?: Throttle }; incremental?: { throttle?: Throttle } };
    setFullRows(d.full?.throttle?.rowsPerSecond ?? '');
    setIncRows(d.incremental?.throttle?.rowsPerSecond ?? '');
    // Only on the first load: later polls must not overwrite what is being typed.
  }, [loaded]);

  const notStarted = task !== null && NOT_STARTED.has(task.state);
  useEffect(() => {
    if (!notStarted) return;
    api.lastPrecheck(id).then(setPrecheck, () => setPrecheck(null));
  }, [api, id, notStarted]);

  const act = async (action: 'pause' | 'resume' | 'release') => {
    try {
      await api.act(id, action);
      setTask(await api.task(id));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  const applyThrottle = async () => {
    setThrottleNote(null);
    const patch: Record<string, unknown> = {
      full: { throttle: { rowsPerSecond: fullRows === '' ? null : fullRows } },
      incremental: { throttle: { rowsPerSecond: incRows === '' ? null : incRows } },
    };
    try {
      setTask(await api.patchTask(id, patch));
      setThrottleNote(t('applied'));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  const lagSeries: ChartSeries[] = [
    { name: 'lag ms', axis: 0, points: samples.lagMs },
    { name: 'lag bytes', axis: 1, points: samples.lagBytes },
  ];
  const rateSeries: ChartSeries[] = [
    { name: 'rows/s', axis: 0, points: samples.rows },
    { name: 'bytes/s', axis: 1, points: samples.bytes },
  ];
  const walSeries: ChartSeries[] = [{ name: 'retained WAL', axis: 0, points: samples.wal }];
  const state = task?.state;
  const name = task?.name ?? id;
  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <Title order={2}>{name}</Title>
          <Code>{id}</Code>
          {state !== undefined && <StatusBadge value={state} />}
          {status?.phase != null && (
            <Text size="sm" data-testid="phase">
              {t('phase')}: {status.phase}
            </Text>
          )}
        </Group>
        <Group>
          <ConfirmButton
            label={t('pause')}
            question={t('confirmAction', { action: t('pause'), name })}
            disabled={state !== 'running'}
            onConfirm={() => act('pause')}
            size="sm"
          />
          <ConfirmButton
            label={t('resume')}
            question={t('confirmAction', { action: t('resume'), name })}
            disabled={state !== 'paused' && state !== 'failed'}
            onConfirm={() => act('resume')}
            size="sm"
          />
          <ConfirmButton
            label={t('release')}
            color="red"
            question={t('confirmAction', { action: t('release'), name })}
            disabled={state === undefined || state === 'released'}
            onConfirm={() => act('release')}
            size="sm"
          />
        </Group>
      </Group>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {status?.lastError != null && (
        <Alert color="orange" title={t('lastError')}>
          {JSON.stringify(status.lastError)}
        </Alert>
      )}
      {notStarted && precheck !== null && (
        <Card withBorder>
          <PrecheckPanel
            api={api}
            taskId={id}
            report={precheck}
            onReport={setPrecheck}
            onStarted={() => undefined}
          />
        </Card>
      )}
      {status?.phase != null && (
        <Stepper
          active={status.phase === 'done' ? PHASES.length : PHASES.indexOf(status.phase)}
          size="xs"
          aria-label={t('phaseTimeline')}
        >
          {PHASES.map((p) => {
            const seen = phaseSeen[p];
            return (
              <Stepper.Step
                key={p}
                label={p}
                data-phase={p}
                description={seen === undefined ? undefined : new Date(seen).toLocaleTimeString()}
              />
            );
          })}
        </Stepper>
      )}
      <SimpleGrid cols={4}>
        <Card withBorder>
          <Text size="xs">{t('lag')}</Text>
          <Text fw={600} data-testid="lag">
            {formatMs(status?.lagMs)} / {formatBytes(status?.lagBytes)}
          </Text>
        </Card>
        <Card withBorder>
          <Text size="xs">{t('rowsPerSecond')}</Text>
          <Text fw={600}>{formatNumber(status?.rowsPerSecond)}</Text>
        </Card>
        <Card withBorder>
          <Text size="xs">{t('retainedWal')}</Text>
          <Text fw={600}>{formatBytes(status?.retainedWalBytes)}</Text>
        </Card>
        <Card withBorder>
          <Text size="xs">{t('errorsRetries')}</Text>
          <Text fw={600}>
            {status?.errorsTotal ?? 0} / {status?.retriesTotal ?? 0}
          </Text>
        </Card>
      </SimpleGrid>
      <Card withBorder>
        <Title order={4} mb="xs">
          {t('tableProgress')}
        </Title>
        <Table aria-label={t('tableProgress')}>
          <Table.Tbody>
            {tables.map((x) => {
              const pct = Math.round((x.progress ?? 0) * 100);
              return (
                <Table.Tr key={x.table} data-table={x.table} data-progress={pct}>
                  <Table.Td w={220}>{x.table}</Table.Td>
                  <Table.Td w={90}>{x.phase}</Table.Td>
                  <Table.Td>
                    <Progress value={pct} aria-label={`${x.table} ${pct}%`} />
                  </Table.Td>
                  <Table.Td w={60}>{pct}%</Table.Td>
                  <Table.Td w={260}>
                    {formatNumber(x.rows)} / {formatNumber(x.estimatedRows)} {t('rows')},{' '}
                    {formatBytes(x.bytes)}, {x.rangesDone}/{x.rangesTotal} {t('ranges')}
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Card>
      <SimpleGrid cols={2}>
        <Card withBorder>
          <Title order={5}>{t('lagChart')}</Title>
          <TimeChart label="lag chart" series={lagSeries} units={['ms', 'bytes']} />
        </Card>
        <Card withBorder>
          <Title order={5}>{t('throughputChart')}</Title>
          <TimeChart label="throughput chart" series={rateSeries} units={['rows/s', 'bytes/s']} />
        </Card>
        <Card withBorder>
          <Title order={5}>{t('retainedWalChart')}</Title>
          <TimeChart label="retained WAL chart" series={walSeries} units={['bytes']} />
        </Card>
      </SimpleGrid>
      <SimpleGrid cols={2}>
        <Card withBorder>
          <Title order={5} mb="xs">
            {t('throttle')}
          </Title>
          <Group align="flex-end">
            <NumberInput
              label={t('fullRowsPerSecond')}
              min={1}
              value={fullRows}
              onChange={(v) => setFullRows(typeof v === 'number' ? v : '')}
            />
            <NumberInput
              label={t('incRowsPerSecond')}
              min={1}
              value={incRows}
              onChange={(v) => setIncRows(typeof v === 'number' ? v : '')}
            />
            <Button onClick={() => void applyThrottle()}>{t('apply')}</Button>
            {throttleNote !== null && <Text c="green">{throttleNote}</Text>}
          </Group>
        </Card>
        <Card withBorder>
          <Title order={5} mb="xs">
            {t('alerts')}
          </Title>
          {(status?.alerts.length ?? 0) === 0 ? (
            <Text size="sm">{t('none')}</Text>
          ) : (
            <Table>
              <Table.Tbody>
                {status?.alerts.map((a) => (
                  <Table.Tr key={`${a.rule}:${a.since}`}>
                    <Table.Td>{a.rule}</Table.Td>
                    <Table.Td>
                      <StatusBadge value={a.state} />
                    </Table.Td>
                    <Table.Td>{a.message}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      </SimpleGrid>
      <Card withBorder>
        <Title order={5} mb="xs">
          {t('alertHistory')}
        </Title>
        {alertHistory.length === 0 ? (
          <Text size="sm">{t('none')}</Text>
        ) : (
          <Table aria-label={t('alertHistory')}>
            <Table.Tbody>
              {alertHistory.map((a) => (
                <Table.Tr key={`${a.rule}:${a.state}:${a.since}`} data-alert={a.rule}>
                  <Table.Td>{new Date(a.since).toLocaleString()}</Table.Td>
                  <Table.Td>{a.rule}</Table.Td>
                  <Table.Td>
                    <StatusBadge value={a.state} />
                  </Table.Td>
                  <Table.Td>{a.message}</Table.Td>
                  <Table.Td>{a.deliveryError ?? (a.deliveredAt !== null ? '✓' : '')}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      <VerificationPanel api={api} taskId={id} />
      <Card withBorder>
        <Title order={5} mb="xs">
          {t('logs')}
        </Title>
        <Code block mah={240} style={{ overflow: 'auto' }} data-testid="logs" ref={logBox}>
          {logs
            .slice(-50)
            .map((l) => `${l.time} ${l.level} ${l.message}`)
            .join('\n')}
        </Code>
      </Card>
    </Stack>
  );
}
