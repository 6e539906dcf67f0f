/** A coloured badge for a check status (pass / warn / fail), a task state or a verification status. */
import { Badge } from '@mantine/core';

const COLORS: Record<string, string> = {
  pass: 'green',
  warn: 'yellow',
  fail: 'red',
  running: 'blue',
  'precheck-passed': 'green',
  'precheck-failed': 'red',
  prechecking: 'cyan',
  paused: 'yellow',
  failed: 'red',
  completed: 'teal',
  released: 'gray',
  created: 'gray',
  // Verification jobs ([V6]); any other status (a newer server's) shows gray.
  queued: 'gray',
  passed: 'green',
  error: 'red',
};

/** `value` as a badge, coloured by {@link COLORS}. */
export function StatusBadge(props: { value: string }) {
  return (
    <Badge
      color={COLORS[props.value] ?? 'gray'}
      variant="light"
      data-status={props.value}
      style={{ flexShrink: 0, minWidth: 'max-content' }}
    >
      {props.value}
    </Badge>
  );
}
