import { unique } from '../target.ts';
import { GENERIC_BAD_QUERY, noneNamed, type BodyEndpoint, type IdRoute, type ListRoute } from './suite.ts';

/** Webhooks (issue 17): bodies, ids and lists. The URLs the policy refuses are in api/webhooks.contract.ts. */
export const webhookEndpoints: BodyEndpoint[] = [
  {
    route: 'POST /v1/webhooks',
    method: 'POST',
    target: async () => ({ path: '/v1/webhooks' }),
    valid: (w) => ({ url: `https://hooks.example.com/${unique('bad-input')}`, siteId: w.siteA }),
    invalid: (w) => [
      { url: 42 },
      { url: 'https://169.254.169.254/latest/meta-data/', siteId: w.siteA },
      { url: 'http://hooks.example.com/plain', siteId: w.siteA },
      { url: 'https://hooks.example.com/x', events: 'relay.online' },
      { url: 'https://hooks.example.com/x', events: ['relay.gone'] },
      { url: 'https://hooks.example.com/x', siteId: 7 },
      { url: 'https://hooks.example.com/x', description: 'x'.repeat(1025) },
    ],
    unchanged: noneNamed('/v1/webhooks', 'url'),
  },
];

const UNKNOWN = 'whk_00000000000000000000000000';
export const webhookIds: IdRoute[] = [
  { route: 'GET /v1/webhooks/{id}', method: 'GET', path: (id) => `/v1/webhooks/${id}`, unknownId: UNKNOWN },
  { route: 'DELETE /v1/webhooks/{id}', method: 'DELETE', path: (id) => `/v1/webhooks/${id}`, unknownId: UNKNOWN },
  { route: 'GET /v1/webhooks/{id}/deliveries', method: 'GET', path: (id) => `/v1/webhooks/${id}/deliveries`, unknownId: UNKNOWN },
  { route: 'POST /v1/webhooks/{id}/test', method: 'POST', path: (id) => `/v1/webhooks/${id}/test`, unknownId: UNKNOWN },
  { route: 'POST /v1/webhooks/{id}/deliveries/{deliveryId}/retry', method: 'POST', path: (id) => `/v1/webhooks/${id}/deliveries/${id}/retry`, unknownId: UNKNOWN },
];

export const webhookLists: ListRoute[] = [
  { route: '/v1/webhooks', path: '/v1/webhooks', bad: GENERIC_BAD_QUERY },
  { route: '/v1/webhooks/{id}/deliveries', path: `/v1/webhooks/${UNKNOWN}/deliveries`, bad: ['limit=0', 'limit=101', 'limit=ten', 'cursor=nope', 'state=lost', 'colour=blue'] },
];
