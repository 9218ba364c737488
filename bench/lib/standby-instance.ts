/**
 * One instance of the standby fail-over bench (bench/standby-failover.ts) in a process of its own, so that it can be
 * killed with SIGKILL. Arguments: config folder, input topic, output topic. Topology: records per key into store
 * `counts`, each new count to the output. Prints its log (JSON lines, LOG_LEVEL), "started" once its streams run,
 * and a status line whenever its tasks or standbys change: `{"status":{"tasks":[...],"standbys":[...]},"at":<ms>}`.
 */
import { LightService } from '../../index.js';

const [configDir, input, output] = process.argv.slice(2) as [string, string, string];
const service = await LightService.create({ configDir });
service.streams.builder().stream<string, unknown>(input).groupByKey().count({ store: 'counts' }).toStream().to(output);
service.installSignalHandlers();
await service.start();
process.stdout.write('started\n');
let last = '';
setInterval(() => {
  const status = JSON.stringify({ tasks: service.streams.localTasks(), standbys: service.streams.standbyTasks() });
  if (status === last) return;
  last = status;
  process.stdout.write(`${JSON.stringify({ status: JSON.parse(status) as unknown, at: Date.now() })}\n`);
}, 20);
