/**
 * The reference for API benchmarks: a fetch handler that returns a machine-sized JSON document
 * (~500 bytes) without routing, auth or a database. Same runtime, same HTTP stack as the app, so the
 * ratio app/trivial is what edgeboot's own code costs.
 */
const body = JSON.stringify({
  id: 'mch_01kc0000000000000000000000',
  mac: '52:54:00:12:34:56',
  siteId: 'site_01kc0000000000000000000000',
  uuid: '4c4c4544-0042-3510-8052-b4c04f4d4e31',
  serial: 'SN-0001',
  hostname: 'node-0001.example.internal',
  arch: 'uefi-x64',
  labels: { rack: 'r12', role: 'worker' },
  state: 'ready',
  createdAt: '2026-11-25T12:00:00.000Z',
  updatedAt: '2026-11-25T12:00:00.000Z',
  lastSeenAt: null,
});

export default {
  fetch(): Response {
    return new Response(body, { headers: { 'content-type': 'application/json' } });
  },
};
