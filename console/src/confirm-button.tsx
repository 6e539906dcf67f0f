/** A button that asks for confirmation in a dialog before it acts. */
import { Button, Group, Modal, Text } from '@mantine/core';
import { useState } from 'react';
import { useTexts } from './dictionary.ts';

/** Shows `label`; on click asks `question`, and calls `onConfirm` on Confirm. */
export function ConfirmButton(props: {
  label: string;
  question: string;
  onConfirm: () => Promise<void> | void;
  color?: string;
  disabled?: boolean;
  size?: string;
}) {
  const t = useTexts();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <Button
        size={props.size ?? 'compact-sm'}
        variant="light"
        color={props.color ?? 'blue'}
        disabled={props.disabled === true}
        onClick={() => setOpen(true)}
      >
        {props.label}
      </Button>
      <Modal opened={open} onClose={() => setOpen(false)} title={props.label} size="sm">
        <Text mb="md">{props.question}</Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={() => setOpen(false)}>
            {t('cancel')}
          </Button>
          <Button
            color={props.color ?? 'blue'}
            loading={busy}
            onClick={() => {
              setBusy(true);
              void Promise.resolve(props.onConfirm()).finally(() => {
                setBusy(false);
                setOpen(false);
              });
            }}
          >
            {t('confirm')}
          </Button>
        </Group>
      </Modal>
    </>
  );
}
