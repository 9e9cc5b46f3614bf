/*
 * The agent's log as events: one JSON object per stdout line (anything that
 * is not JSON is kept as { msg }), and stderr chunks as { event: 'stderr' }.
 * Shared by the demo and the end-to-end tests, which wait on these events.
 */
import type { ChildProcess } from 'node:child_process';

export type AgentEvent = Record<string, unknown> & { event?: string; msg?: string };

/** Calls `onLine` for every complete line a stream gives (a line split across chunks is joined first). */
export function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) onLine(line);
  });
}

/** Calls `onEvent` for every event the agent process logs; `onLine` (optional) sees every raw stdout line. */
export function readAgentEvents(child: ChildProcess, onEvent: (e: AgentEvent) => void, onLine?: (line: string) => void): void {
  readLines(child.stdout!, (line) => {
    onLine?.(line);
    try {
      onEvent(JSON.parse(line) as AgentEvent);
    } catch {
      onEvent({ msg: line });
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => onEvent({ event: 'stderr', msg: chunk.toString('utf8') }));
}
