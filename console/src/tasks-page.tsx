/**
 * The task list: state, phase, lag and rows/s of each task, from one `GET /api/v1/tasks` every 2 s
 * (each item carries its run summary), filtered by a text (id, name, state or phase) and a state.
 */
import { Alert, Anchor, Button, Group, Select, Stack, Table, TextInput, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { ApiError, type ApiClient, type TaskListItem } from './api-client.ts';
import { useTexts } from './dictionary.ts';
import { formatBytes, formatMs, formatNumber } from './format.ts';
import { navigate } from './router.ts';
import { StatusBadge } from './status-badge.tsx';

/** The tasks page. */
export function TasksPage(props: { api: ApiClient }) {
  const t = useTexts();
  const [tasks, setTasks] = useState<TaskListItem[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const [stateFilter, setStateFilter] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const list = await props.api.tasks();
        if (stopped) return;
        setTasks(list);
        setError(null);
      } catch (e) {
        if (!stopped) setError(e instanceof ApiError ? e.message : String(e));
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), 2000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [props.api]);
  const f = filter.trim().toLowerCase();
  const shown = (tasks ?? []).filter(
    (x) =>
      (stateFilter === null || x.state === stateFilter) &&
      (f === '' ||
        x.name.toLowerCase().includes(f) ||
        x.id.includes(f) ||
        x.state.includes(f) ||
        (x.summary.phase ?? '').includes(f)),
  );
  const states = [...new Set((tasks ?? []).map((x) => x.state))].sort();
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('tasks')}</Title>
        <Group>
          <TextInput
            aria-label={t('filter')}
            placeholder={t('filter')}
            value={filter}
            onChange={(e) => setFilter(e.currentTarget.value)}
          />
          <Select
            aria-label={t('stateFilter')}
            placeholder={t('stateFilter')}
            data={states}
            value={stateFilter}
            onChange={setStateFilter}
            clearable
          />
          <Button onClick={() => navigate('/tasks/new')}>{t('newTask')}</Button>
        </Group>
      </Group>
      {error !== null && (
        <Alert color="red" role="alert">
          {error}
        </Alert>
      )}
      <Table.ScrollContainer minWidth={960}>
        <Table striped highlightOnHover withTableBorder aria-label={t('tasks')}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>ID</Table.Th>
              <Table.Th>{t('name')}</Table.Th>
              <Table.Th>{t('state')}</Table.Th>
              <Table.Th>{t('phase')}</Table.Th>
              <Table.Th>{t('lag')}</Table.Th>
              <Table.Th>{t('rowsPerSecond')}</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {tasks?.length === 0 && (
              <Table.Tr>
                <Table.Td colSpan={6}>{t('none')}</Table.Td>
              </Table.Tr>
            )}
            {shown.map((x) => {
              const s = x.summary;
              return (
                <Table.Tr key={x.id} data-task={x.id}>
                  <Table.Td>
                    <Anchor
                      href={`/tasks/${x.id}`}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate(`/tasks/${x.id}`);
                      }}
                    >
                      {x.id}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{x.name}</Table.Td>
                  <Table.Td>
                    <StatusBadge value={x.state} />
                  </Table.Td>
                  <Table.Td>{s.phase ?? '–'}</Table.Td>
                  <Table.Td>
                    {formatMs(s.lagMs)} / {formatBytes(s.lagBytes)}
                  </Table.Td>
                  <Table.Td>{formatNumber(s.rowsPerSecond)}</Table.Td>
                </Table.Tr>
              );
            })}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
    </Stack>
  );
}
