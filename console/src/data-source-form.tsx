/**
 * The form of a new data source, or of changes to one (PATCH: the fields that differ; an empty
 * optional field clears it; an empty secret keeps it), with the fields of the OMS data source form. The rules are the
 * API's (data-source-schema.ts): the form sends what was typed and shows each rule the API answers
 * (`details.issues[].field`) under the field it names; any other error above the buttons.
 */
import {
  Alert,
  Button,
  FileButton,
  Group,
  NumberInput,
  PasswordInput,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Textarea,
  TextInput,
} from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { ApiError, type ApiClient, type DataSourceInput, type DataSourceView } from './api-client.ts';
import { useTexts } from './dictionary.ts';

const SSL_MODES: readonly DataSourceView['sslmode'][] = [
  'disable',
  'allow',
  'prefer',
  'require',
  'verify-ca',
  'verify-full',
];
const ATTRIBUTES: readonly DataSourceView['attributes'][] = ['primary', 'primary+standby', 'standby'];
const PEM_FIELDS = ['caCertificate', 'clientCertificate', 'clientKey'] as const;

interface FormState {
  id: string;
  region: string;
  attributes: DataSourceView['attributes'];
  standbyHost: string;
  standbyPort: number | '';
  heartbeat: boolean;
  host: string;
  port: number | '';
  username: string;
  password: string;
  database: string;
  schema: string;
  sslmode: DataSourceView['sslmode'];
  caCertificate: string;
  clientCertificate: string;
  clientKey: string;
  clientKeyPassword: string;
  remarks: string;
}

const EMPTY: FormState = {
  id: '',
  region: '',
  attributes: 'primary',
  standbyHost: '',
  standbyPort: 5432,
  heartbeat: false,
  host: '',
  port: 5432,
  username: '',
  password: '',
  database: '',
  schema: '',
  sslmode: 'prefer',
  caCertificate: '',
  clientCertificate: '',
  clientKey: '',
  clientKeyPassword: '',
  remarks: '',
};

/** The request body of a form: empty optional fields are left out (the API's defaults apply). */
function dataSourceBodyOf(f: FormState): DataSourceInput {
  const opt = (v: string) => (v.trim() === '' ? undefined : v);
  const body: DataSourceInput = {
    id: f.id.trim(),
    type: 'postgresql',
    attributes: f.attributes,
    heartbeat: f.heartbeat,
    host: f.host.trim(),
    port: f.port === '' ? null : f.port,
    username: f.username,
    database: f.database,
    sslmode: f.sslmode,
  };
  const optional: Record<string, string | undefined> = {
    region: opt(f.region),
    password: f.password === '' ? undefined : f.password,
    schema: opt(f.schema),
    caCertificate: opt(f.caCertificate),
    clientCertificate: opt(f.clientCertificate),
    clientKey: opt(f.clientKey),
    clientKeyPassword: f.clientKeyPassword === '' ? undefined : f.clientKeyPassword,
    remarks: opt(f.remarks),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) body[k] = v;
  if (f.attributes === 'primary+standby' || f.standbyHost.trim() !== '') {
    body.standby = { host: f.standbyHost.trim(), port: f.standbyPort === '' ? null : f.standbyPort };
  }
  return body;
}

/** The fields a PATCH may change (the secrets apart). */
const EDITABLE = [
  'region',
  'attributes',
  'standby',
  'heartbeat',
  'host',
  'port',
  'username',
  'database',
  'schema',
  'sslmode',
  'caCertificate',
  'clientCertificate',
  'remarks',
] as const;

/** The PATCH of `existing` to what the form holds: changed fields, and the secrets typed. */
function patchOf(f: FormState, existing: DataSourceView): Record<string, unknown> {
  const body = dataSourceBodyOf(f);
  const patch: Record<string, unknown> = {};
  for (const k of EDITABLE) {
    const v = body[k] ?? null;
    if (JSON.stringify(v) !== JSON.stringify(existing[k])) patch[k] = v;
  }
  for (const k of ['password', 'clientKey', 'clientKeyPassword'] as const) {
    if (body[k] !== undefined) patch[k] = body[k];
  }
  return patch;
}

/** The form state of an existing data source (secrets empty: kept unless typed). */
function stateOf(d: DataSourceView): FormState {
  return {
    ...EMPTY,
    id: d.id,
    region: d.region ?? '',
    attributes: d.attributes,
    standbyHost: d.standby?.host ?? '',
    standbyPort: d.standby?.port ?? 5432,
    heartbeat: d.heartbeat,
    host: d.host,
    port: d.port,
    username: d.username,
    database: d.database,
    schema: d.schema ?? '',
    sslmode: d.sslmode,
    caCertificate: d.caCertificate ?? '',
    clientCertificate: d.clientCertificate ?? '',
    remarks: d.remarks ?? '',
  };
}

/** Creates a data source, or changes `existing`; `onSaved` after the API stored it. */
export function DataSourceForm(props: {
  api: ApiClient;
  existing?: DataSourceView | undefined;
  onSaved: (d: DataSourceView) => void;
  onCancel: () => void;
}) {
  const t = useTexts();
  const existing = props.existing;
  const [f, setF] = useState<FormState>(() => (existing === undefined ? EMPTY : stateOf(existing)));
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setF((old) => ({ ...old, [k]: v }));
  const err = (field: string) => error?.issuesOf(field);
  const form = useRef<HTMLFormElement | null>(null);
  // The first field the API named comes into view, focused.
  useEffect(() => {
    const first = form.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    first?.scrollIntoView({ block: 'center' });
    first?.focus();
  }, [error]);
  const text = (
    k: keyof FormState,
    label: string,
    o: { required?: boolean; description?: string; disabled?: boolean } = {},
  ) => (
    <TextInput
      label={label}
      name={k}
      required={o.required === true}
      disabled={o.disabled === true}
      description={o.description}
      value={String(f[k])}
      onChange={(e) => set(k, e.currentTarget.value as never)}
      error={err(k)}
    />
  );
  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      props.onSaved(
        existing === undefined
          ? await props.api.createDataSource(dataSourceBodyOf(f))
          : await props.api.patchDataSource(existing.id, patchOf(f, existing)),
      );
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e)));
    } finally {
      setBusy(false);
    }
  };
  const unplaced =
    error !== null &&
    (error.issues.length === 0 ||
      error.issues.some((i) => !FIELDS.some((k) => i.field === k || i.field.startsWith(`${k}.`))));
  return (
    <form
      ref={form}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <Stack gap="sm">
        <SimpleGrid cols={2}>
          {text('id', t('identifier'), {
            required: true,
            description: t('identifierHint'),
            disabled: existing !== undefined,
          })}
          {text('region', t('region'))}
          <Select
            label={t('attributes')}
            name="attributes"
            data={[...ATTRIBUTES]}
            value={f.attributes}
            onChange={(v) => v !== null && set('attributes', v)}
            allowDeselect={false}
            error={err('attributes')}
          />
          <Switch
            mt="xl"
            label={t('heartbeat')}
            checked={f.heartbeat}
            onChange={(e) => set('heartbeat', e.currentTarget.checked)}
            error={err('heartbeat')}
          />
          {text('host', t('host'), { required: true })}
          <NumberInput
            label={t('port')}
            name="port"
            value={f.port}
            onChange={(v) => set('port', typeof v === 'number' ? v : '')}
            allowDecimal={false}
            error={err('port')}
          />
          {f.attributes === 'primary+standby' && (
            <>
              <TextInput
                label={t('standbyHost')}
                name="standbyHost"
                value={f.standbyHost}
                onChange={(e) => set('standbyHost', e.currentTarget.value)}
                error={err('standby')}
              />
              <NumberInput
                label={t('standbyPort')}
                name="standbyPort"
                value={f.standbyPort}
                onChange={(v) => set('standbyPort', typeof v === 'number' ? v : '')}
                allowDecimal={false}
              />
            </>
          )}
          {text('username', t('username'), { required: true })}
          <PasswordInput
            label={t('password')}
            description={existing?.passwordSet === true ? t('keepSecret') : undefined}
            name="password"
            value={f.password}
            onChange={(e) => set('password', e.currentTarget.value)}
            error={err('password')}
          />
          {text('database', t('database'), { required: true })}
          {text('schema', t('schemaOnly'))}
          <Select
            label={t('sslmode')}
            name="sslmode"
            data={[...SSL_MODES]}
            value={f.sslmode}
            onChange={(v) => v !== null && set('sslmode', v)}
            allowDeselect={false}
            error={err('sslmode')}
          />
          <PasswordInput
            label={t('clientKeyPassword')}
            description={existing?.clientKeyPasswordSet === true ? t('keepSecret') : undefined}
            name="clientKeyPassword"
            value={f.clientKeyPassword}
            onChange={(e) => set('clientKeyPassword', e.currentTarget.value)}
            error={err('clientKeyPassword')}
          />
        </SimpleGrid>
        {PEM_FIELDS.map((k) => (
          <Stack key={k} gap={4}>
            <Textarea
              label={t(k)}
              description={k === 'clientKey' && existing?.clientKeySet === true ? t('keepSecret') : undefined}
              name={k}
              autosize
              minRows={1}
              maxRows={4}
              placeholder="-----BEGIN CERTIFICATE-----"
              value={f[k]}
              onChange={(e) => set(k, e.currentTarget.value)}
              error={err(k)}
            />
            <FileButton
              accept=".pem,.crt,.key,text/plain"
              onChange={(file) => {
                if (file !== null) void file.text().then((s) => set(k, s));
              }}
            >
              {(p) => (
                <Button {...p} size="compact-xs" variant="light" w="fit-content">
                  {t('uploadPem')}
                </Button>
              )}
            </FileButton>
          </Stack>
        ))}
        <Textarea
          label={t('remarks')}
          name="remarks"
          value={f.remarks}
          onChange={(e) => set('remarks', e.currentTarget.value)}
          error={err('remarks')}
        />
        {unplaced && (
          <Alert color="red" role="alert">
            {error.message}
          </Alert>
        )}
        <Group justify="flex-end">
          <Button variant="default" onClick={props.onCancel}>
            {t('cancel')}
          </Button>
          <Button type="submit" loading={busy}>
            {t('save')}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

/** The API fields the form shows next to an input. */
const FIELDS = [
  'id',
  'region',
  'attributes',
  'heartbeat',
  'host',
  'port',
  'standby',
  'username',
  'password',
  'database',
  'schema',
  'sslmode',
  'caCertificate',
  'clientCertificate',
  'clientKey',
  'clientKeyPassword',
  'remarks',
];
