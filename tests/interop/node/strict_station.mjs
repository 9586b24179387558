// A 1.6 charge point built on ocpp-rpc in strict mode: every request it sends and every response it
// receives is validated against the official OCPP JSON schemas by a library we did not write.
// Usage: node strict_station.mjs <ws-url-base> <station-id> <password> <id-tag>
// Prints one JSON object with each call's response; exits 1 on any error (invalid frame, CALLERROR...).
import { RPCClient } from 'ocpp-rpc';

const [endpoint, identity, password, idTag] = process.argv.slice(2);
const client = new RPCClient({ endpoint, identity, password, protocols: ['ocpp1.6'], strictMode: true, reconnect: false });
const answered = {};
client.handle('Reset', ({ params }) => { answered.Reset = params; return { status: 'Accepted' }; });
client.handle('TriggerMessage', ({ params }) => { answered.TriggerMessage = params; return { status: 'Accepted' }; });
client.handle(({ method }) => { throw Object.assign(new Error(`no handler for ${method}`), { rpcErrorCode: 'NotImplemented' }); });

const now = () => new Date().toISOString();
const results = {};
try {
  await client.connect();
  results.BootNotification = await client.call('BootNotification', { chargePointVendor: 'Interop', chargePointModel: 'Strict-1', firmwareVersion: '1.0.0' });
  results.StatusNotification = await client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
  results.Authorize = await client.call('Authorize', { idTag });
  results.StartTransaction = await client.call('StartTransaction', { connectorId: 1, idTag, meterStart: 1000, timestamp: now() });
  const transactionId = results.StartTransaction.transactionId;
  results.MeterValues = await client.call('MeterValues', {
    connectorId: 1, transactionId,
    meterValue: [{ timestamp: now(), sampledValue: [
      { value: '1500', measurand: 'Energy.Active.Import.Register', unit: 'Wh', context: 'Sample.Periodic' },
      { value: '7.2', measurand: 'Power.Active.Import', unit: 'kW' },
    ] }],
  });
  results.StopTransaction = await client.call('StopTransaction', { transactionId, idTag, meterStop: 2500, timestamp: now(), reason: 'EVDisconnected' });
  results.Heartbeat = await client.call('Heartbeat', {});
  results.DataTransfer = await client.call('DataTransfer', { vendorId: 'com.example', messageId: 'ping', data: 'hello' });
  await client.close({ code: 1000 });
  console.log(JSON.stringify(results));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), details: error.details ?? null, results }));
  process.exit(1);
}
