/**
 * The task wizard, as the DTS console's: (1) name, source and destination data sources (or a new
 * one added in a dialog with the data source form, without leaving the wizard), sync types;
 * (2) objects (object-picker.tsx: renames one by one and in bulk, operations, WHERE filters);
 * (3) advanced: conflicting tables, key conflicts, retry windows, throttles, heartbeat, alert
 * rules; (4) the task created (or patched, after going back) and prechecked (precheck-panel.tsx),
 * then started. "Show API request" shows the definition it sends. An API error naming a field
 * goes back to the field's step and shows under it; one naming no field shows above the buttons.
 */
import {
  Alert,
  Button,
  Checkbox,
  Code,
  Group,
  List,
  Modal,
  NumberInput,
  Select,
  SimpleGrid,
  Stack,
  Stepper,
  TextInput,
  Title,
} from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import {
  ApiError,
  type ApiClient,
  type DataSourceView,
  type PrecheckReport,
  type TaskDefinitionInput,
} from './api-client.ts';
import { DataSourceForm } from './data-source-form.tsx';
import { useTexts } from './dictionary.ts';
import { ObjectPicker } from './object-picker.tsx';
import { PrecheckPanel } from './precheck-panel.tsx';
import { navigate } from './router.ts';
import { definitionOf, mergePatchOf, type WizardState } from './task-definition.ts';

const INITIAL: WizardState = {
  name: '',
  source: null,
  destination: null,
  syncTypes: ['schema', 'full', 'incremental'],
  schemas: [],
  tables: [],
  mapping: [],
  conflictingTables: 'precheck-error',
  onConflict: 'error',
  fullRowsPerSecond: '',
  fullMegabytesPerSecond: '',
  incrementalRowsPerSecond: '',
  incrementalMegabytesPerSecond: '',
  webhook: '',
  alertTaskFailed: false,
  latencySeconds: '',
  retryConnectionMinutes: '',
  retryOtherMinutes: '',
  heartbeat: false,
  heartbeatIntervalMs: '',
  heartbeatTable: '',
};

/** The step whose fields hold the API field `field` (objects and mapping: 1; basics: 0; else 2). */
function stepOf(field: string): number {
  if (/^(objects|mapping)\b/.test(field)) return 1;
  if (field === 'source.heartbeat' || field.startsWith('source.heartbeat.')) return 2;
  if (/^(name|source|destination|syncTypes)\b/.test(field)) return 0;
  return 2;
}

/** The API fields the wizard shows next to an input (the others show above the buttons). */
const PLACED =
  /^(name|source|destination|syncTypes|objects|mapping|conflictingTables|onConflict|full\.throttle|incremental\.throttle|alerts|retry)\b/;

/** The wizard page. */
export function TaskWizard(props: { api: ApiClient }) {
  const t = useTexts();
  const [step, setStep] = useState(0);
  const [w, setW] = useState<WizardState>(INITIAL);
  const [sources, setSources] = useState<DataSourceView[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [showRequest, setShowRequest] = useState(false);
  const [created, setCreated] = useState<{ id: string; definition: TaskDefinitionInput } | null>(null);
  const [report, setReport] = useState<PrecheckReport | null>(null);
  /** The role of the data source being added inline, or null. */
  const [adding, setAdding] = useState<'source' | 'destination' | null>(null);
  const set = <K extends keyof WizardState>(k: K, v: WizardState[K]) => setW((old) => ({ ...old, [k]: v }));

  const loadSources = useCallback(
    () =>
      props.api.dataSources().then(setSources, (e: unknown) => {
        setError(e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e)));
      }),
    [props.api],
  );
  useEffect(() => {
    void loadSources();
  }, [loadSources]);

  const definition = definitionOf(w);
  const err = (field: string) => error?.issuesOf(field);
  const dsOptions = sources.map((d) => ({
    value: d.id,
    label: `${d.id} (${d.host}:${d.port}/${d.database})`,
  }));

  /** Creates the task (or patches it with the changes since) and prechecks it. */
  const createAndPrecheck = async () => {
    setBusy(true);
    setError(null);
    try {
      let id: string;
      if (created === null) {
        id = (await props.api.createTask(definition)).id;
      } else {
        id = created.id;
        const patch = mergePatchOf(created.definition, definition) as Record<string, unknown>;
        if (Object.keys(patch).length > 0) await props.api.patchTask(id, patch);
      }
      setCreated({ id, definition });
      setReport(await props.api.precheck(id));
      setStep(3);
    } catch (e) {
      const ae = e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e));
      setError(ae);
      const first = ae.issues[0];
      if (first !== undefined) setStep(stepOf(first.field));
    } finally {
      setBusy(false);
    }
  };

  const basicsDone =
    w.name.trim() !== '' && w.source !== null && w.destination !== null && w.syncTypes.length > 0;
  const objectsDone = w.schemas.length > 0 || w.tables.length > 0;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('newTask')}</Title>
        <Button variant="default" onClick={() => setShowRequest(true)}>
          {t('showApiRequest')}
        </Button>
      </Group>
      <Stepper active={step} onStepClick={(s) => s < step && setStep(s)} size="sm">
        <Stepper.Step label={t('stepBasics')}>
          <Stack maw={640}>
            <TextInput
              label={t('taskName')}
              required
              value={w.name}
              onChange={(e) => set('name', e.currentTarget.value)}
              error={err('name')}
            />
            {(['source', 'destination'] as const).map((role) => (
              <Group key={role} align="flex-end" wrap="nowrap">
                <Select
                  style={{ flex: 1 }}
                  label={t(role === 'source' ? 'sourceDataSource' : 'destinationDataSource')}
                  required
                  data={dsOptions}
                  value={w[role]}
                  onChange={(v) => set(role, v)}
                  error={err(`${role}.dataSource`) ?? (role === 'destination' ? err(role) : undefined)}
                />
                <Button
                  variant="light"
                  onClick={() => setAdding(role)}
                  aria-label={t(role === 'source' ? 'newSourceDataSource' : 'newDestinationDataSource')}
                >
                  {t('newDataSource')}
                </Button>
              </Group>
            ))}
            <Checkbox.Group
              label={t('syncTypes')}
              value={w.syncTypes}
              onChange={(v) => set('syncTypes', v)}
              error={err('syncTypes')}
            >
              <Group mt={4}>
                <Checkbox value="schema" label={t('syncSchema')} />
                <Checkbox value="full" label={t('syncFull')} />
                <Checkbox value="incremental" label={t('syncIncremental')} />
              </Group>
            </Checkbox.Group>
          </Stack>
        </Stepper.Step>
        <Stepper.Step label={t('stepObjects')}>
          {w.source !== null && (
            <ObjectPicker
              api={props.api}
              source={w.source}
              schemas={w.schemas}
              tables={w.tables}
              onChange={(schemas, tables) => setW((old) => ({ ...old, schemas, tables }))}
              mapping={w.mapping}
              onMapping={(m) => set('mapping', m)}
              error={error}
            />
          )}
        </Stepper.Step>
        <Stepper.Step label={t('stepAdvanced')}>
          <SimpleGrid cols={2} maw={900}>
            <Select
              label={t('conflictingTables')}
              data={[
                { value: 'precheck-error', label: t('conflictPrecheckError') },
                { value: 'ignore', label: t('conflictIgnore') },
              ]}
              value={w.conflictingTables}
              allowDeselect={false}
              onChange={(v) => set('conflictingTables', v === 'ignore' ? 'ignore' : 'precheck-error')}
              error={err('conflictingTables')}
            />
            <Select
              label={t('onConflict')}
              data={[
                { value: 'error', label: t('onConflictError') },
                { value: 'overwrite', label: t('onConflictOverwrite') },
              ]}
              value={w.onConflict}
              allowDeselect={false}
              onChange={(v) => set('onConflict', v === 'overwrite' ? 'overwrite' : 'error')}
              error={err('onConflict')}
            />
            {(
              [
                ['fullRowsPerSecond', 'fullRowsPerSecond', 'full.throttle.rowsPerSecond'],
                ['fullMegabytesPerSecond', 'fullMbPerSecond', 'full.throttle.megabytesPerSecond'],
                ['incrementalRowsPerSecond', 'incRowsPerSecond', 'incremental.throttle.rowsPerSecond'],
                [
                  'incrementalMegabytesPerSecond',
                  'incMbPerSecond',
                  'incremental.throttle.megabytesPerSecond',
                ],
              ] as const
            ).map(([k, label, field]) => (
              <NumberInput
                key={k}
                label={t(label)}
                min={0}
                value={w[k]}
                onChange={(v) => set(k, typeof v === 'number' ? v : '')}
                error={err(field)}
              />
            ))}
            {(
              [
                ['retryConnectionMinutes', 'retryConnection', 'retry.connectionMinutes', 720, 10, 1440],
                ['retryOtherMinutes', 'retryOther', 'retry.otherMinutes', 10, 1, 1440],
              ] as const
            ).map(([k, label, field, def, min, max]) => (
              <NumberInput
                key={k}
                label={t(label)}
                description={t('defaultValue', { value: String(def) })}
                min={min}
                max={max}
                allowDecimal={false}
                value={w[k]}
                onChange={(v) => set(k, typeof v === 'number' ? v : '')}
                error={err(field)}
              />
            ))}
            <Checkbox
              mt="md"
              label={t('heartbeatOn')}
              description={t('heartbeatHint')}
              checked={w.heartbeat}
              onChange={(e) => set('heartbeat', e.currentTarget.checked)}
              error={w.heartbeat ? undefined : err('source.heartbeat')}
            />
            <SimpleGrid cols={2}>
              <NumberInput
                label={t('heartbeatInterval')}
                description={t('defaultValue', { value: '10000' })}
                min={1000}
                allowDecimal={false}
                disabled={!w.heartbeat}
                value={w.heartbeatIntervalMs}
                onChange={(v) => set('heartbeatIntervalMs', typeof v === 'number' ? v : '')}
                error={
                  err('source.heartbeat.intervalMs') ?? (w.heartbeat ? err('source.heartbeat') : undefined)
                }
              />
              <TextInput
                label={t('heartbeatTable')}
                description={t('heartbeatTableHint')}
                placeholder="public.pgdts_heartbeat"
                disabled={!w.heartbeat}
                value={w.heartbeatTable}
                onChange={(e) => set('heartbeatTable', e.currentTarget.value)}
                error={err('source.heartbeat.table')}
              />
            </SimpleGrid>
            <TextInput
              label={t('alertWebhook')}
              placeholder="https://alerts.example.com/pgdts"
              value={w.webhook}
              onChange={(e) => set('webhook', e.currentTarget.value)}
              error={err('alerts.webhooks')}
            />
            <NumberInput
              label={t('alertLatency')}
              min={1}
              value={w.latencySeconds}
              onChange={(v) => set('latencySeconds', typeof v === 'number' ? v : '')}
              error={err('alerts.rules')}
            />
            <Checkbox
              label={t('alertTaskFailed')}
              checked={w.alertTaskFailed}
              onChange={(e) => set('alertTaskFailed', e.currentTarget.checked)}
            />
          </SimpleGrid>
        </Stepper.Step>
        <Stepper.Step label={t('stepPrecheck')}>
          {created !== null && report !== null && (
            <PrecheckPanel
              api={props.api}
              taskId={created.id}
              report={report}
              onReport={setReport}
              onStarted={() => navigate(`/tasks/${created.id}`)}
            />
          )}
        </Stepper.Step>
      </Stepper>
      {error !== null && (error.issues.length === 0 || error.issues.some((i) => !PLACED.test(i.field))) && (
        <Alert color="red" role="alert" title={error.code}>
          {error.issues.length === 0 ? (
            error.message
          ) : (
            <List size="sm">
              {error.issues
                .filter((i) => !PLACED.test(i.field))
                .map((i) => (
                  <List.Item key={`${i.field}:${i.rule}`}>
                    {i.field}: {i.rule}
                  </List.Item>
                ))}
            </List>
          )}
        </Alert>
      )}
      <Group>
        {step > 0 && (
          <Button variant="default" onClick={() => setStep(step - 1)}>
            {t('back')}
          </Button>
        )}
        {step < 2 && (
          <Button disabled={step === 0 ? !basicsDone : !objectsDone} onClick={() => setStep(step + 1)}>
            {t('next')}
          </Button>
        )}
        {step === 2 && (
          <Button loading={busy} onClick={() => void createAndPrecheck()}>
            {t('createAndPrecheck')}
          </Button>
        )}
      </Group>
      <Modal opened={adding !== null} onClose={() => setAdding(null)} title={t('addDataSource')} size="xl">
        {adding !== null && (
          <DataSourceForm
            api={props.api}
            onCancel={() => setAdding(null)}
            onSaved={(d) => {
              const role = adding;
              setAdding(null);
              // The new data source is listed and chosen for the role it was added for.
              void loadSources().then(() => set(role, d.id));
            }}
          />
        )}
      </Modal>
      <Modal opened={showRequest} onClose={() => setShowRequest(false)} title={t('showApiRequest')} size="lg">
        <Code block data-testid="api-request">
          {`POST /api/v1/tasks\nContent-Type: application/json\n\n${JSON.stringify(definition, null, 2)}`}
        </Code>
      </Modal>
    </Stack>
  );
}
