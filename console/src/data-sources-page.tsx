/**
 * The data sources page: the list (identifier, type, host:port, database, region, attributes,
 * remarks, last test result), the form of a new one, delete with confirmation, and Test connection
 * showing each check with its status, message and fix.
 */
import { Alert, Button, Group, Modal, SegmentedControl, Stack, Table, Text, Title } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import { ApiError, type ApiClient, type DataSourceTestReport, type DataSourceView } from './api-client.ts';
import { ConfirmButton } from './confirm-button.tsx';
import { DataSourceForm } from './data-source-form.tsx';
import { useTexts } from './dictionary.ts';
import { StatusBadge } from './status-badge.tsx';

/** The data sources page. */
export function DataSourcesPage(props: { api: ApiClient }) {
  const t = useTexts();
  const [items, setItems] = useState<DataSourceView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<DataSourceView | null>(null);
  const [testing, setTesting] = useState<DataSourceView | null>(null);
  const [lastTests, setLastTests] = useState<Record<string, DataSourceTestReport>>({});
  const reload = useCallback(async () => {
    try {
      setItems(await props.api.dataSources());
      setError(null);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  }, [props.api]);
  useEffect(() => {
    void reload();
  }, [reload]);
  const remove = async (id: string) => {
    try {
      await props.api.deleteDataSource(id);
      await reload();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('dataSources')}</Title>
        <Button onClick={() => setAdding(true)}>{t('addDataSource')}</Button>
      </Group>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      <Table.ScrollContainer minWidth={960}>
        <Table striped highlightOnHover withTableBorder aria-label={t('dataSources')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('identifier')}</Table.Th>
              <Table.Th>{t('type')}</Table.Th>
              <Table.Th>{t('hostPort')}</Table.Th>
              <Table.Th>{t('database')}</Table.Th>
              <Table.Th>{t('region')}</Table.Th>
              <Table.Th>{t('attributes')}</Table.Th>
              <Table.Th>{t('remarks')}</Table.Th>
              <Table.Th>{t('lastTest')}</Table.Th>
              <Table.Th>{t('actions')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items?.length === 0 && (
              <Table.Tr>
                <Table.Td colSpan={9}>{t('none')}</Table.Td>
              </Table.Tr>
            )}
            {items?.map((d) => {
              const last = lastTests[d.id];
              return (
                <Table.Tr key={d.id} data-row={d.id}>
                  <Table.Td>{d.id}</Table.Td>
                  <Table.Td>{d.type}</Table.Td>
                  <Table.Td>
                    {d.host}:{d.port}
                  </Table.Td>
                  <Table.Td>{d.database}</Table.Td>
                  <Table.Td>{d.region ?? ''}</Table.Td>
                  <Table.Td>{d.attributes}</Table.Td>
                  <Table.Td>{d.remarks ?? ''}</Table.Td>
                  <Table.Td>{last !== undefined && <StatusBadge value={last.status} />}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      <Button size="compact-sm" variant="light" onClick={() => setTesting(d)}>
                        {t('testConnection')}
                      </Button>
                      <Button size="compact-sm" variant="light" color="gray" onClick={() => setEditing(d)}>
                        {t('edit')}
                      </Button>
                      <ConfirmButton
                        label={t('delete')}
                        color="red"
                        question={t('confirmDeleteDataSource', { id: d.id })}
                        onConfirm={() => remove(d.id)}
                      />
                    </Group>
                  </Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Modal opened={adding} onClose={() => setAdding(false)} title={t('addDataSource')} size="xl">
        {/* Mounted only while open: the modal keeps its content through the closing transition, so a
            form reopened within it would still hold what was typed before Cancel. */}
        {adding && (
          <DataSourceForm
            api={props.api}
            onCancel={() => setAdding(false)}
            onSaved={() => {
              setAdding(false);
              void reload();
            }}
          />
        )}
      </Modal>
      <Modal
        opened={editing !== null}
        onClose={() => setEditing(null)}
        title={t('editDataSource', { id: editing?.id ?? '' })}
        size="xl"
      >
        {editing !== null && (
          <DataSourceForm
            api={props.api}
            existing={editing}
            onCancel={() => setEditing(null)}
            onSaved={() => {
              setEditing(null);
              void reload();
            }}
          />
        )}
      </Modal>
      <Modal
        opened={testing !== null}
        onClose={() => setTesting(null)}
        title={`${t('testConnection')}: ${testing?.id ?? ''}`}
        size="xl"
      >
        {testing !== null && (
          <TestPanel
            api={props.api}
            id={testing.id}
            onReport={(r) => setLastTests((old) => ({ ...old, [r.id]: r }))}
          />
        )}
      </Modal>
    </Stack>
  );
}

/** Runs the test of one data source for a role and shows each check. */
function TestPanel(props: { api: ApiClient; id: string; onReport: (r: DataSourceTestReport) => void }) {
  const t = useTexts();
  const [role, setRole] = useState<'source' | 'destination'>('source');
  const [report, setReport] = useState<DataSourceTestReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    setReport(null);
    try {
      const r = await props.api.testDataSource(props.id, role);
      setReport(r);
      props.onReport(r);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Stack>
      <Group>
        <Text size="sm">{t('testAs')}</Text>
        <SegmentedControl
          aria-label={t('testAs')}
          value={role}
          onChange={(v) => setRole(v === 'destination' ? 'destination' : 'source')}
          data={[
            { value: 'source', label: t('roleSource') },
            { value: 'destination', label: t('roleDestination') },
          ]}
        />
        <Button onClick={() => void run()} loading={busy}>
          {t('testConnection')}
        </Button>
        {report !== null && <StatusBadge value={report.status} />}
      </Group>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      {report !== null && (
        <Table withTableBorder aria-label={t('testConnection')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>{t('check')}</Table.Th>
              <Table.Th>{t('status')}</Table.Th>
              <Table.Th>{t('message')}</Table.Th>
              <Table.Th>{t('fix')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {report.checks.map((c) => (
              <Table.Tr key={c.id} data-check={c.id}>
                <Table.Td>{c.title}</Table.Td>
                <Table.Td>
                  <StatusBadge value={c.status} />
                </Table.Td>
                <Table.Td>{c.message}</Table.Td>
                <Table.Td>{c.fix ?? ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
