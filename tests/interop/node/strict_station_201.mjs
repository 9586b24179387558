// A 2.0.1 charging station built on ocpp-rpc in strict mode: every request it sends and every response it
// receives is validated against the official OCPP 2.0.1 JSON schemas by a library we did not write.
// Usage: node strict_station_201.mjs <ws-url-base> <station-id> <password> <id-token>
// Prints one JSON object with each call's response (and the GetBaseReport it was sent); exits 1 on any error.
import { RPCClient } from 'ocpp-rpc';

const [endpoint, identity, password, idToken] = process.argv.slice(2);
const client = new RPCClient({ endpoint, identity, password, protocols: ['ocpp2.0.1'], strictMode: true, reconnect: false });
const now = () => new Date().toISOString();
const results = {};
const reportData = (evseId) => ({
  component: { name: 'EVSE', evse: { id: evseId } },
  variable: { name: 'AvailabilityState' },
  variableAttribute: [{ type: 'Actual', value: 'Available', mutability: 'ReadOnly' }],
  variableCharacteristics: { dataType: 'OptionList', valuesList: 'Available,Occupied,Faulted', supportsMonitoring: true },
});

// The CSMS asks for the device model after an accepted boot; it is sent in two parts, after the answer.
let reportSent;
const reported = new Promise((resolve) => { reportSent = resolve; });
client.handle('GetBaseReport', ({ params }) => {
  results.GetBaseReport = params;
  setImmediate(async () => {
    try {
      const parts = [[reportData(1)], [reportData(2)]];
      results.NotifyReport = [];
      for (const [seqNo, part] of parts.entries()) {
        results.NotifyReport.push(await client.call('NotifyReport', {
          requestId: params.requestId, generatedAt: now(), seqNo, reportData: part, tbc: seqNo < parts.length - 1,
        }));
      }
      reportSent();
    } catch (error) { reportSent(error); }
  });
  return { status: 'Accepted' };
});
client.handle(({ method }) => { throw Object.assign(new Error(`no handler for ${method}`), { rpcErrorCode: 'NotImplemented' }); });

const within = (promise, ms) => Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('no GetBaseReport')), ms))]);

try {
  await client.connect();
  results.BootNotification = await client.call('BootNotification', {
    reason: 'PowerUp', chargingStation: { vendorName: 'Interop', model: 'Strict-201', firmwareVersion: '1.0.0' },
  });
  const reportError = await within(reported, 10000);
  if (reportError) throw reportError;
  results.Heartbeat = await client.call('Heartbeat', {});
  results.StatusNotification = await client.call('StatusNotification', {
    timestamp: now(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1,
  });
  results.Authorize = await client.call('Authorize', { idToken: { idToken, type: 'ISO14443' } });
  results.AuthorizeUnknown = await client.call('Authorize', { idToken: { idToken: 'NOBODY', type: 'eMAID' } });
  await client.close({ code: 1000 });
  console.log(JSON.stringify(results));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), details: error.details ?? null, results }));
  process.exit(1);
}
