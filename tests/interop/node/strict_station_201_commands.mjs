// A 2.0.1 charging station on ocpp-rpc in strict mode that takes every CSMS-initiated call: each request it is
// sent and each response the CSMS returns is validated against the official OCPP 2.0.1 JSON schemas by a
// library we did not write. It boots, runs a priced session (TransactionEvent Started/Updated/Ended, with
// NotifyEVChargingNeeds), prints READY, then answers whatever it is sent with a schema-valid response, sending
// the report parts a request asks for (NotifyMonitoringReport, NotifyDisplayMessages, NotifyCustomerInformation,
// ReportChargingProfiles, ReservationStatusUpdate). When its stdin closes it disconnects and prints one JSON
// object: the calls received, the responses to its own calls, and every strict-validation failure.
// Given a CSR, it also asks for its certificate (SignCertificate) before READY; CertificateSigned follows.
// Usage: node strict_station_201_commands.mjs <ws-url-base> <station-id> <password> <id-token> <transaction-id> [<csr>]
import { RPCClient } from 'ocpp-rpc';

const [endpoint, identity, password, idToken, transactionId, csr] = process.argv.slice(2);
const client = new RPCClient({ endpoint, identity, password, protocols: ['ocpp2.0.1'], strictMode: true, reconnect: false });
const at = (minutesAgo = 0) => new Date(Date.now() - minutesAgo * 60000).toISOString();
const results = { received: [], answers: {}, failures: [] };
const followUps = [];

client.on('strictValidationFailure', ({ method, params, result, error, outbound, isCall }) => {
  results.failures.push({ method, outbound, isCall, params, result, error: String(error), details: error.details ?? null });
});

// Sent after the response to the request that asks for it, as a station does.
const after = (method, params) => followUps.push(new Promise((resolve) => setImmediate(async () => {
  try {
    (results.answers[method] ??= []).push(await client.call(method, params));
  } catch (error) {
    (results.answers[method] ??= []).push({ error: String(error) });
  }
  resolve();
})));

const accepted = () => ({ status: 'Accepted' });
const responses = {
  CancelReservation: accepted,
  ChangeAvailability: accepted,
  ClearCache: accepted,
  ClearChargingProfile: accepted,
  ClearDisplayMessage: accepted,
  ClearVariableMonitoring: (p) => ({ clearMonitoringResult: p.id.map((id) => ({ status: 'Accepted', id })) }),
  CostUpdated: () => ({}),
  CustomerInformation: (p) => {
    if (p.report) after('NotifyCustomerInformation', { data: 'Card STRICT-TOKEN: 2 sessions', seqNo: 0, generatedAt: at(), requestId: p.requestId, tbc: false });
    return accepted();
  },
  DataTransfer: (p) => ({ status: 'Accepted', data: { echo: p.data ?? null } }),
  GetBaseReport: accepted,
  GetChargingProfiles: (p) => {
    after('ReportChargingProfiles', {
      requestId: p.requestId, chargingLimitSource: 'CSO', evseId: p.evseId ?? 1, tbc: false,
      chargingProfile: [{
        id: 31, stackLevel: 0, chargingProfilePurpose: 'TxDefaultProfile', chargingProfileKind: 'Absolute',
        chargingSchedule: [{ id: 1, startSchedule: at(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
      }],
    });
    return accepted();
  },
  GetCompositeSchedule: (p) => ({
    status: 'Accepted',
    schedule: { evseId: p.evseId, duration: p.duration, scheduleStart: at(), chargingRateUnit: p.chargingRateUnit ?? 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 11000 }] },
  }),
  GetDisplayMessages: (p) => {
    after('NotifyDisplayMessages', {
      requestId: p.requestId, tbc: false,
      messageInfo: [{ id: 5, priority: 'NormalCycle', state: 'Idle', message: { format: 'UTF8', language: 'en', content: 'Welcome' } }],
    });
    return accepted();
  },
  GetLocalListVersion: () => ({ versionNumber: 3 }),
  GetLog: () => ({ status: 'Accepted', filename: 'diagnostics.log' }),
  GetMonitoringReport: (p) => {
    after('NotifyMonitoringReport', {
      requestId: p.requestId, seqNo: 0, generatedAt: at(), tbc: false,
      monitor: [{
        component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'Power' },
        variableMonitoring: [{ id: 7, transaction: false, value: 22000, type: 'UpperThreshold', severity: 4 }],
      }],
    });
    return accepted();
  },
  GetReport: accepted,
  GetTransactionStatus: () => ({ ongoingIndicator: false, messagesInQueue: false }),
  GetVariables: (p) => ({
    getVariableResult: p.getVariableData.map(({ component, variable, attributeType }) => ({
      attributeStatus: 'Accepted', component, variable, attributeValue: '42', ...(attributeType ? { attributeType } : {}),
    })),
  }),
  RequestStartTransaction: accepted,
  RequestStopTransaction: accepted,
  ReserveNow: (p) => {
    after('ReservationStatusUpdate', { reservationId: p.id, reservationUpdateStatus: 'Expired' });
    return accepted();
  },
  Reset: accepted,
  SendLocalList: accepted,
  SetChargingProfile: accepted,
  SetDisplayMessage: accepted,
  SetMonitoringBase: accepted,
  SetMonitoringLevel: accepted,
  SetNetworkProfile: accepted,
  SetVariableMonitoring: (p) => ({
    setMonitoringResult: p.setMonitoringData.map(({ type, severity, component, variable }, index) => ({
      id: 100 + index, status: 'Accepted', type, severity, component, variable,
    })),
  }),
  SetVariables: (p) => ({
    setVariableResult: p.setVariableData.map(({ component, variable, attributeType }) => ({
      attributeStatus: 'Accepted', component, variable, ...(attributeType ? { attributeType } : {}),
    })),
  }),
  TriggerMessage: accepted,
  UnlockConnector: () => ({ status: 'Unlocked' }),
  UpdateFirmware: accepted,
  CertificateSigned: accepted,
  DeleteCertificate: accepted,
  GetInstalledCertificateIds: () => ({
    status: 'Accepted',
    certificateHashDataChain: [{
      certificateType: 'CSMSRootCertificate',
      certificateHashData: { hashAlgorithm: 'SHA256', issuerNameHash: 'a'.repeat(64), issuerKeyHash: 'b'.repeat(64), serialNumber: '1f' },
    }],
  }),
  InstallCertificate: accepted,
};
for (const [method, respond] of Object.entries(responses)) {
  client.handle(method, ({ params }) => {
    results.received.push({ method, params });
    return respond(params);
  });
}
client.handle(({ method }) => { throw Object.assign(new Error(`no handler for ${method}`), { rpcErrorCode: 'NotImplemented' }); });

const register = (minutesAgo, wh, context) => [{ timestamp: at(minutesAgo), sampledValue: [{ value: wh, context, measurand: 'Energy.Active.Import.Register' }] }];
const event = (eventType, seqNo, minutesAgo, triggerReason, fields) => client.call('TransactionEvent', {
  eventType, seqNo, timestamp: at(minutesAgo), triggerReason, ...fields,
  transactionInfo: { transactionId, ...(fields.transactionInfo ?? {}) },
});
const stdinClosed = new Promise((resolve) => { process.stdin.on('end', resolve); process.stdin.resume(); });

try {
  await client.connect();
  results.answers.BootNotification = await client.call('BootNotification', {
    reason: 'PowerUp', chargingStation: { vendorName: 'Interop', model: 'Strict-201', firmwareVersion: '1.0.0' },
  });
  results.answers.StatusNotification = await client.call('StatusNotification', { timestamp: at(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
  const tag = { idToken, type: 'ISO14443' };
  results.answers.TransactionEventStarted = await event('Started', 0, 30, 'Authorized', {
    idToken: tag, evse: { id: 1, connectorId: 1 }, meterValue: register(30, 1000, 'Transaction.Begin'),
    transactionInfo: { chargingState: 'Charging' },
  });
  results.answers.NotifyEVChargingNeeds = await client.call('NotifyEVChargingNeeds', {
    evseId: 1, maxScheduleTuples: 3,
    chargingNeeds: { requestedEnergyTransfer: 'AC_three_phase', departureTime: at(-120), acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 32, evMaxVoltage: 400 } },
  });
  results.answers.TransactionEventUpdated = await event('Updated', 1, 20, 'MeterValuePeriodic', { meterValue: register(20, 2000, 'Sample.Periodic') });
  // The CSMS prices running costs a second's worth at a time: still charging when it does, so it sends one.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  results.answers.TransactionEventEnded = await event('Ended', 2, 10, 'EVCommunicationLost', {
    meterValue: register(10, 3500, 'Transaction.End'), transactionInfo: { stoppedReason: 'EVDisconnected' },
  });
  if (csr) results.answers.SignCertificate = await client.call('SignCertificate', { csr, certificateType: 'ChargingStationCertificate' });
  console.log('READY');
  await stdinClosed;
  await Promise.all(followUps);
  await client.close({ code: 1000 });
  console.log(JSON.stringify(results));
} catch (error) {
  console.log(JSON.stringify({ error: String(error), details: error.details ?? null, results }));
  process.exit(1);
}
