/**
 * The objects step: the source's schemas and tables loaded through the API
 * (`GET /api/v1/data-sources/{id}/tables`), selected a whole schema (with a destination schema,
 * tables left out and the operations applied) or a table at a time; a selected table takes a
 * destination name (`as`), the operations incremental sync applies, and a WHERE filter (`where`)
 * checked against the source when the field is left (`POST .../validate-filter`, the server's
 * reason under the field). Below, the bulk rename rules with the destination names' preview
 * (mapping-editor.tsx). The API's rules for an object's keys (`objects[i].where`) show next to them.
 */
import { Alert, Badge, Button, Checkbox, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import { ApiError, type ApiClient, type SourceObjects, type ValidateFilterResult } from './api-client.ts';
import { useTexts } from './dictionary.ts';
import { MappingEditor } from './mapping-editor.tsx';
import {
  OBJECT_OPERATIONS,
  type MappingRule,
  type ObjectOperation,
  type PickedSchema,
  type PickedTable,
} from './task-definition.ts';

/** Operation checkboxes (all checked: the definition leaves `operations` out). */
function Operations(props: {
  label: string;
  value: readonly ObjectOperation[];
  disabled?: boolean;
  error?: string | undefined;
  onChange: (v: ObjectOperation[]) => void;
}) {
  const t = useTexts();
  return (
    <Checkbox.Group
      aria-label={`${t('operations')} ${props.label}`}
      value={[...props.value]}
      onChange={(v) => props.onChange(v)}
      error={props.error}
    >
      <Group gap={6} wrap="nowrap">
        {OBJECT_OPERATIONS.map((o) => (
          <Checkbox
            key={o}
            size="xs"
            value={o}
            label={o}
            aria-label={`${o} ${props.label}`}
            disabled={props.disabled === true}
          />
        ))}
      </Group>
    </Checkbox.Group>
  );
}

/** Picks schemas and tables of data source `source`. */
export function ObjectPicker(props: {
  api: ApiClient;
  source: string;
  schemas: PickedSchema[];
  tables: PickedTable[];
  onChange: (schemas: PickedSchema[], tables: PickedTable[]) => void;
  mapping: MappingRule[];
  onMapping: (m: MappingRule[]) => void;
  /** The last API error of the wizard (its issues name `objects[i]...` and `mapping[i]...`). */
  error: ApiError | null;
}) {
  const t = useTexts();
  const [objects, setObjects] = useState<SourceObjects | null>(null);
  /** The last check of each table's WHERE filter (`schema.table` → result, or `checking`). */
  const [checks, setChecks] = useState<Record<string, ValidateFilterResult | 'checking'>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = useCallback(async () => {
    setBusy(true);
    setError(null);
    try {
      setObjects(await props.api.sourceObjects(props.source));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }, [props.api, props.source]);
  useEffect(() => {
    void load();
  }, [load]);

  const picked = (schema: string, table: string) =>
    props.tables.find((x) => x.schema === schema && x.table === table);
  const toggleSchema = (s: string, on: boolean) =>
    props.onChange(
      on
        ? [...props.schemas, { schema: s, as: '', exclude: [], operations: [...OBJECT_OPERATIONS] }]
        : props.schemas.filter((x) => x.schema !== s),
      props.tables,
    );
  const editSchema = (s: string, change: (p: PickedSchema) => PickedSchema) =>
    props.onChange(
      props.schemas.map((x) => (x.schema === s ? change(x) : x)),
      props.tables,
    );
  const toggleTable = (schema: string, table: string, on: boolean) =>
    props.onChange(
      props.schemas,
      on
        ? [...props.tables, { schema, table, as: '', where: '', operations: [...OBJECT_OPERATIONS] }]
        : props.tables.filter((x) => !(x.schema === schema && x.table === table)),
    );
  const edit = (schema: string, table: string, change: Partial<PickedTable>) =>
    props.onChange(
      props.schemas,
      props.tables.map((x) => (x.schema === schema && x.table === table ? { ...x, ...change } : x)),
    );

  // The index of each object in the definition (definitionOf: whole schemas, then single tables).
  const single = props.tables.filter((x) => !props.schemas.some((w) => w.schema === x.schema));
  const schemaIssue = (s: string, key: string) => {
    const i = props.schemas.findIndex((x) => x.schema === s);
    return i < 0 ? undefined : props.error?.issuesOf(`objects.${i}${key === '' ? '' : `.${key}`}`);
  };
  const tableIssue = (s: string, n: string, key: string) => {
    const i = single.findIndex((x) => x.schema === s && x.table === n);
    if (i < 0) return undefined;
    return props.error?.issuesOf(`objects.${props.schemas.length + i}${key === '' ? '' : `.${key}`}`);
  };
  const checkWhere = async (s: string, n: string, where: string) => {
    const k = `${s}.${n}`;
    if (where.trim() === '') {
      setChecks(({ [k]: _gone, ...rest }) => rest);
      return;
    }
    setChecks((old) => ({ ...old, [k]: 'checking' }));
    let r: ValidateFilterResult;
    try {
      r = await props.api.validateFilter(props.source, { schema: s, table: n, where: where.trim() });
    } catch (e) {
      // A refusal of the request itself (`;`, an unclosed comment) names `where`: its rule is the reason.
      r = {
        valid: false,
        message: e instanceof ApiError ? (e.issuesOf('where') ?? e.message) : String(e),
      };
    }
    setChecks((old) => ({ ...old, [k]: r }));
  };
  const selected: [string, string][] = (objects?.tables ?? [])
    .filter((x) => {
      const whole = props.schemas.find((w) => w.schema === x.schema);
      return whole !== undefined ? !whole.exclude.includes(x.table) : picked(x.schema, x.table) !== undefined;
    })
    .map((x) => [x.schema, x.table]);

  return (
    <Stack>
      <Group>
        <Text fw={500}>
          {t('sourceObjects')}: {props.source}
        </Text>
        <Button size="compact-sm" variant="default" onClick={() => void load()} loading={busy}>
          {t('loadTables')}
        </Button>
      </Group>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {objects?.schemas.map((s) => {
        const whole = props.schemas.find((x) => x.schema === s);
        const tables = objects.tables.filter((x) => x.schema === s);
        return (
          <Stack key={s} gap={4}>
            <Group>
              <Checkbox
                label={`${s} (${t('wholeSchema')})`}
                aria-label={`schema ${s}`}
                checked={whole !== undefined}
                onChange={(e) => toggleSchema(s, e.currentTarget.checked)}
              />
              {whole !== undefined && (
                <>
                  <TextInput
                    size="xs"
                    aria-label={`${t('destinationSchema')} ${s}`}
                    placeholder={`${t('destinationSchema')}: ${s}`}
                    value={whole.as}
                    onChange={(e) => {
                      const as = e.currentTarget.value;
                      editSchema(s, (x) => ({ ...x, as }));
                    }}
                    error={schemaIssue(s, 'as')}
                  />
                  <Operations
                    label={`schema ${s}`}
                    value={whole.operations}
                    onChange={(operations) => editSchema(s, (x) => ({ ...x, operations }))}
                    error={schemaIssue(s, 'operations')}
                  />
                </>
              )}
            </Group>
            {tables.length > 0 && (
              <Table withTableBorder ml="lg" w="auto">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t('selected')}</Table.Th>
                    <Table.Th>{t('table')}</Table.Th>
                    <Table.Th>{t('rows')}</Table.Th>
                    <Table.Th>{t('primaryKey')}</Table.Th>
                    <Table.Th>{t('renameTo')}</Table.Th>
                    <Table.Th>{t('whereFilter')}</Table.Th>
                    <Table.Th>{t('operations')}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {tables.map((x) => {
                    const p = picked(s, x.table);
                    const label = `${s}.${x.table}`;
                    const check = checks[label];
                    return (
                      <Table.Tr key={x.table} data-table={label}>
                        <Table.Td>
                          <Checkbox
                            aria-label={`table ${label}`}
                            checked={whole !== undefined ? !whole.exclude.includes(x.table) : p !== undefined}
                            onChange={(e) => {
                              const on = e.currentTarget.checked;
                              if (whole === undefined) toggleTable(s, x.table, on);
                              // In a whole schema, unchecking a table leaves it out.
                              else
                                editSchema(s, (w) => ({
                                  ...w,
                                  exclude: on
                                    ? w.exclude.filter((n) => n !== x.table)
                                    : [...w.exclude, x.table],
                                }));
                            }}
                          />
                        </Table.Td>
                        <Table.Td>{x.table}</Table.Td>
                        <Table.Td>{x.estimatedRows ?? ''}</Table.Td>
                        <Table.Td>
                          {x.hasPrimaryKey ? (
                            <Badge color="green" variant="light">
                              PK
                            </Badge>
                          ) : (
                            <Badge color="yellow" variant="light">
                              {t('noPrimaryKey', { ri: x.replicaIdentity })}
                            </Badge>
                          )}
                        </Table.Td>
                        <Table.Td>
                          <TextInput
                            size="xs"
                            aria-label={`${t('renameTo')} ${label}`}
                            placeholder={label}
                            disabled={p === undefined}
                            value={p?.as ?? ''}
                            onChange={(e) => edit(s, x.table, { as: e.currentTarget.value })}
                            error={whole === undefined ? tableIssue(s, x.table, 'as') : undefined}
                          />
                        </Table.Td>
                        <Table.Td>
                          <TextInput
                            size="xs"
                            aria-label={`${t('whereFilter')} ${label}`}
                            placeholder="id > 100"
                            disabled={p === undefined}
                            value={p?.where ?? ''}
                            onChange={(e) => {
                              edit(s, x.table, { where: e.currentTarget.value });
                              // An edited filter is not checked yet.
                              setChecks(({ [label]: _old, ...rest }) => rest);
                            }}
                            onBlur={(e) => void checkWhere(s, x.table, e.currentTarget.value)}
                            error={
                              (whole === undefined ? tableIssue(s, x.table, 'where') : undefined) ??
                              (typeof check === 'object' && !check.valid ? check.message : undefined)
                            }
                            description={
                              check === 'checking'
                                ? t('checkingFilter')
                                : typeof check === 'object' && check.valid
                                  ? t('filterValid')
                                  : undefined
                            }
                            data-check={
                              typeof check === 'object' ? (check.valid ? 'valid' : 'invalid') : undefined
                            }
                          />
                        </Table.Td>
                        <Table.Td>
                          <Operations
                            label={label}
                            value={
                              whole !== undefined ? whole.operations : (p?.operations ?? OBJECT_OPERATIONS)
                            }
                            disabled={p === undefined || whole !== undefined}
                            onChange={(operations) => edit(s, x.table, { operations })}
                            error={whole === undefined ? tableIssue(s, x.table, 'operations') : undefined}
                          />
                        </Table.Td>
                      </Table.Tr>
                    );
                  })}
                </Table.Tbody>
              </Table>
            )}
          </Stack>
        );
      })}
      {objects !== null && (
        <MappingEditor
          state={{ schemas: props.schemas, tables: props.tables, mapping: props.mapping }}
          schemas={objects.schemas}
          selected={selected}
          error={props.error}
          onChange={props.onMapping}
        />
      )}
    </Stack>
  );
}
