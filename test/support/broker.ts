/** The broker for suites tagged @broker (the root hook starts it). */
export async function useBroker(): Promise<string> {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('KAFKA_BROKERS is not set');
  return brokers;
}
