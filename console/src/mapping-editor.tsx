/**
 * Bulk renames in the objects step: the definition's `mapping` rules (`{from, to}`, `schema.table`
 * patterns whose `*`s capture, first matching rule wins), written directly or made by a helper
 * (a table name prefix or suffix, a schema renamed, a table name prefix replaced), and a live
 * preview of each selected table's destination name as the engine resolves it
 * (task-definition.ts `destinationOf`). The API's rule for a rule's field shows under it.
 */
import { Button, Card, Group, Select, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useState } from 'react';
import type { ApiError } from './api-client.ts';
import { useTexts } from './dictionary.ts';
import { destinationOf, type MappingRule, type WizardState } from './task-definition.ts';

/** The helper's kinds of rule. */
const KINDS = ['prefix', 'suffix', 'schema', 'replace'] as const;
type Kind = (typeof KINDS)[number];

/** The rule a helper makes: `schema` is a source schema or `*` (every schema). */
export function ruleOf(kind: Kind, schema: string, text: string, other: string): MappingRule {
  switch (kind) {
    case 'prefix':
      return { from: `${schema}.*`, to: `${schema}.${text}*` };
    case 'suffix':
      return { from: `${schema}.*`, to: `${schema}.*${text}` };
    case 'schema':
      return { from: `${schema}.*`, to: `${text}.*` };
    case 'replace':
      return { from: `${schema}.${text}*`, to: `${schema}.${other}*` };
  }
}

/** The rules editor and the destination preview of the tables `selected` (`[schema, table]`). */
export function MappingEditor(props: {
  state: Pick<WizardState, 'schemas' | 'tables' | 'mapping'>;
  schemas: readonly string[];
  selected: readonly (readonly [string, string])[];
  error: ApiError | null;
  onChange: (mapping: MappingRule[]) => void;
}) {
  const t = useTexts();
  const [kind, setKind] = useState<Kind>('prefix');
  const [schema, setSchema] = useState('*');
  const [text, setText] = useState('');
  const [other, setOther] = useState('');
  const rules = props.state.mapping;
  const edit = (i: number, r: MappingRule) => props.onChange(rules.map((x, j) => (j === i ? r : x)));
  const kindLabel = {
    prefix: t('rulePrefix'),
    suffix: t('ruleSuffix'),
    schema: t('ruleSchema'),
    replace: t('ruleReplace'),
  } as const;
  return (
    <Card withBorder>
      <Stack gap="xs">
        <Title order={5}>{t('bulkRename')}</Title>
        <Text size="xs" c="dimmed">
          {t('bulkRenameHint')}
        </Text>
        <Group align="flex-end" wrap="wrap">
          <Select
            label={t('ruleKind')}
            data={KINDS.map((k) => ({ value: k, label: kindLabel[k] }))}
            value={kind}
            allowDeselect={false}
            onChange={(v) => setKind(v ?? 'prefix')}
            w={220}
          />
          <Select
            label={t('ruleSchemaScope')}
            data={[
              { value: '*', label: t('everySchema') },
              ...props.schemas.map((s) => ({ value: s, label: s })),
            ]}
            value={schema}
            allowDeselect={false}
            onChange={(v) => setSchema(v ?? '*')}
            w={180}
          />
          <TextInput
            label={
              kind === 'schema' ? t('newSchemaName') : kind === 'replace' ? t('replaceFrom') : t('ruleText')
            }
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            w={160}
          />
          {kind === 'replace' && (
            <TextInput
              label={t('replaceTo')}
              value={other}
              onChange={(e) => setOther(e.currentTarget.value)}
              w={160}
            />
          )}
          <Button
            variant="light"
            disabled={text.trim() === '' || (kind === 'schema' && schema === '*')}
            onClick={() => {
              props.onChange([...rules, ruleOf(kind, schema, text.trim(), other.trim())]);
              setText('');
              setOther('');
            }}
          >
            {t('addRule')}
          </Button>
          <Button variant="default" onClick={() => props.onChange([...rules, { from: '', to: '' }])}>
            {t('addEmptyRule')}
          </Button>
        </Group>
        {rules.map((r, i) => (
          <Group key={i} align="flex-start" data-rule={i}>
            <TextInput
              label={t('ruleFrom', { n: String(i + 1) })}
              value={r.from}
              onChange={(e) => edit(i, { ...r, from: e.currentTarget.value })}
              error={props.error?.issuesOf(`mapping.${i}.from`) ?? props.error?.issuesOf(`mapping.${i}`)}
              w={220}
            />
            <TextInput
              label={t('ruleTo', { n: String(i + 1) })}
              value={r.to}
              onChange={(e) => edit(i, { ...r, to: e.currentTarget.value })}
              error={props.error?.issuesOf(`mapping.${i}.to`)}
              w={220}
            />
            <Button
              mt={24}
              variant="subtle"
              color="red"
              aria-label={t('removeRule', { n: String(i + 1) })}
              onClick={() => props.onChange(rules.filter((_, j) => j !== i))}
            >
              ✕
            </Button>
          </Group>
        ))}
        {props.selected.length > 0 && (
          <Table withTableBorder w="auto" aria-label={t('destinationPreview')}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t('sourceTable')}</Table.Th>
                <Table.Th>{t('destinationTable')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {props.selected.map(([s, n]) => {
                const to = destinationOf(props.state, s, n);
                return (
                  <Table.Tr key={`${s}.${n}`} data-preview={`${s}.${n}`}>
                    <Table.Td>
                      {s}.{n}
                    </Table.Td>
                    <Table.Td data-destination={to} fw={to === `${s}.${n}` ? undefined : 600}>
                      {to}
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        )}
      </Stack>
    </Card>
  );
}
