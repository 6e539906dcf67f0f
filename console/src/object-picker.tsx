/**
 * The objects step: the source's schemas and tables loaded through the API
 * (`GET /api/v1/data-sources/{id}/tables`), selected a whole schema (with a destination schema and
 * tables left out) or a table at a time; a selected table takes a destination name (`as`) and a
 * WHERE filter (`where`).
 */
import { Alert, Badge, Button, Checkbox, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import { ApiError, type ApiClient, type SourceObjects } from './api-client.ts';
import { useTexts } from './dictionary.ts';
import type { PickedSchema, PickedTable } from './task-definition.ts';

/** Picks schemas and tables of data source `source`. */
export function ObjectPicker(props: {
  api: ApiClient;
  source: string;
  schemas: PickedSchema[];
  tables: PickedTable[];
  onChange: (schemas: PickedSchema[], tables: PickedTable[]) => void;
}) {
  const t = useTexts();
  const [objects, setObjects] = useState<SourceObjects | null>(null);
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
        ? [...props.schemas, { schema: s, as: '', exclude: [] }]
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
        ? [...props.tables, { schema, table, as: '', where: '' }]
        : props.tables.filter((x) => !(x.schema === schema && x.table === table)),
    );
  const edit = (schema: string, table: string, change: Partial<PickedTable>) =>
    props.onChange(
      props.schemas,
      props.tables.map((x) => (x.schema === schema && x.table === table ? { ...x, ...change } : x)),
    );

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
                <TextInput
                  size="xs"
                  aria-label={`${t('destinationSchema')} ${s}`}
                  placeholder={`${t('destinationSchema')}: ${s}`}
                  value={whole.as}
                  onChange={(e) => {
                    const as = e.currentTarget.value;
                    editSchema(s, (x) => ({ ...x, as }));
                  }}
                />
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
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {tables.map((x) => {
                    const p = picked(s, x.table);
                    const label = `${s}.${x.table}`;
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
                          />
                        </Table.Td>
                        <Table.Td>
                          <TextInput
                            size="xs"
                            aria-label={`${t('whereFilter')} ${label}`}
                            placeholder="id > 100"
                            disabled={p === undefined}
                            value={p?.where ?? ''}
                            onChange={(e) => edit(s, x.table, { where: e.currentTarget.value })}
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
    </Stack>
  );
}
