/**
 * The demo's transfers: one that completes and one that is compensated (its credit goes to an account never opened),
 * started over HTTP on the transfers service with `Prefer: wait`; then, per transfer, the saga's steps (GET
 * /transfers/{id}) and every hop it made across the two services — record, correlation id, trace id and caller —
 * read back from the topics.
 */
import { ACCOUNT_TOPICS } from '../accounts/account-service.js';
import { hopLine, readTopic, traceIdOf, waitUntil, type TopicRecord } from '../accounts/demo-records.js';
import { TRANSFER_TOPICS } from './transfer-service.js';

export interface TransfersDemo {
  say(line?: string): void;
  brokers: string;
  run: string;
  /** A token for both audiences: the saga's commands to the accounts service go out under it. */
  token: string;
  transfers: { port: number; name: string };
  accounts: { port: number };
  /** The account money comes from (its view at `fromVersion`), the account it goes to (opened), and the amounts. */
  from: string;
  fromVersion: number;
  to: string;
  amounts: { completed: number; compensated: number };
  /** The name of the instance behind a query endpoint (host:port). */
  nameOf(endpoint: unknown): string;
}

export interface DemoTransfer {
  transferId: string;
  correlationId: string;
  status: number;
  traceId: string;
}

interface Parsed {
  record: TopicRecord;
  value: { id?: string; type?: string; commandId?: string; data?: { code?: string } };
}

export async function runDemoTransfers(demo: TransfersDemo): Promise<DemoTransfer[]> {
  const { say, run } = demo;
  const call = async (port: number, method: string, path: string, headers: Record<string, string> = {}, body?: object): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demo.token}`, ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };

  say();
  say(`transfers on ${demo.transfers.name} (the transfer saga: debit the source on the accounts service, credit the target, refund the debit when the credit fails):`);
  const neverOpened = `${demo.from}-never-opened`;
  const cases = [
    { transferId: `t-ok-${run}`, correlationId: `transfer-ok-${run}`, body: { from: demo.from, to: demo.to, amount: demo.amounts.completed } },
    { transferId: `t-refund-${run}`, correlationId: `transfer-refund-${run}`, body: { from: demo.from, to: neverOpened, amount: demo.amounts.compensated } },
  ];
  const started: { transferId: string; correlationId: string; status: number }[] = [];
  for (const { transferId, correlationId, body } of cases) {
    const answer = await call(demo.transfers.port, 'POST', '/transfers', { 'Idempotency-Key': `"${transferId}"`, Prefer: 'wait=20', 'X-Correlation-Id': correlationId }, body);
    const outcome = answer.status === 422 ? `${String(answer.body.status)} ${String(answer.body.code)}: ${String(answer.body.reason)}` : String(answer.body.status ?? answer.body.code);
    say(`  POST /transfers ${JSON.stringify(body)} (Idempotency-Key "${transferId}", Prefer: wait=20) -> HTTP ${answer.status} ${outcome} (Preference-Applied: ${answer.headers.get('preference-applied') ?? 'none'})`);
    started.push({ transferId, correlationId, status: answer.status });
  }
  const views = await Promise.all([demo.from, demo.to].map(async (id) => (await waitUntil(`the view of ${id}`, async () => {
    const view = await call(demo.accounts.port, 'GET', `/accounts/${id}`);
    // The source's view has the three events of both transfers: the completed one's debit, the other's debit and refund.
    return view.status === 200 && (id !== demo.from || view.body.version === demo.fromVersion + 3) ? view.body : undefined;
  }))));
  say(`  balances now: ${demo.from} ${String(views[0]!.balance)} (version ${String(views[0]!.version)}), ${demo.to} ${String(views[1]!.balance)} (version ${String(views[1]!.version)}); ${neverOpened} was never opened`);

  const topics = [TRANSFER_TOPICS.transfers, ACCOUNT_TOPICS.commands, ACCOUNT_TOPICS.events, ACCOUNT_TOPICS.rejections, TRANSFER_TOPICS.replies, TRANSFER_TOPICS.outcomes];
  const read = await Promise.all(topics.map(async (topic) => (await readTopic(demo.brokers, topic)).map((record): Parsed => ({ record, value: JSON.parse(record.value) as Parsed['value'] }))));
  const [starts, commands, events, rejections, replies, outcomes] = read as [Parsed[], Parsed[], Parsed[], Parsed[], Parsed[], Parsed[]];
  const transfers: DemoTransfer[] = [];
  for (const { transferId, correlationId, status } of started) {
    const saga = (await call(demo.transfers.port, 'GET', `/transfers/${transferId}`)).body;
    const history = saga.history as { at: string; step: string; event: string; commandId?: string; code?: string }[];
    const origin = Date.parse(history[0]!.at);
    say();
    say(`the saga of transfer ${transferId} (GET /transfers/${transferId} -> ${String(saga.status)}, answered by ${demo.nameOf(saga.answeredBy)}'s store):`);
    for (const entry of history) {
      say(`  +${String(Date.parse(entry.at) - origin).padStart(4)} ms  ${entry.step.padEnd(6)} ${entry.event.padEnd(17)} ${entry.commandId ?? ''}${entry.code ? ` ${entry.code}` : ''}`.trimEnd());
    }
    // The hops in the saga's order: the start, then per command sent its record, what the accounts service appended
    // (events or a rejection) and its reply, then the saga's answer to the HTTP request.
    const start = starts.find(({ value, record }) => value.id === transferId && record.headers['x-correlation-id'] === correlationId)!;
    const hops: [TopicRecord, string][] = [[start.record, 'StartTransfer']];
    for (const { commandId } of history.filter(({ event }) => event === 'sent' || event === 'compensation-sent')) {
      const sent = commands.find(({ value }) => value.id === commandId);
      if (sent) hops.push([sent.record, `${String(sent.value.type)} ${commandId!}`]);
      for (const appended of events.filter(({ value }) => value.id?.startsWith(`${commandId!}-`))) hops.push([appended.record, String(appended.value.type)]);
      for (const refused of rejections.filter(({ value }) => value.id === `${commandId!}-rejected`)) hops.push([refused.record, `CommandRejected ${String(refused.value.data?.code)}`]);
      const reply = replies.find(({ value }) => value.commandId === commandId);
      if (reply) hops.push([reply.record, String(reply.value.type)]);
    }
    const answer = outcomes.find(({ value, record }) => value.commandId === transferId && record.headers['x-correlation-id'] === correlationId);
    if (answer) hops.push([answer.record, `${String(answer.value.type)} (the saga's answer to the POST)`]);
    const traceId = traceIdOf(start.record.headers);
    say(`its hops (X-Correlation-Id ${correlationId}, trace ${traceId}):`);
    say(`  hop 1: HTTP POST /transfers on ${demo.transfers.name}  correlation ${correlationId}`);
    hops.forEach(([record, what], index) => say(`  hop ${index + 2}: ${hopLine(record, what)}`));
    transfers.push({ transferId, correlationId, status, traceId });
  }
  return transfers;
}
