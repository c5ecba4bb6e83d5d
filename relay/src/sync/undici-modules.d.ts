/** Types for the undici modules undici-pool.ts loads one by one (undici 8 has no "exports" map). */
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  import { Dispatcher } from 'undici';
  export default Dispatcher;
}
declare module 'undici/lib/api/api-request.js' {
  import { Dispatcher } from 'undici';
  const request: Dispatcher['request'];
  export default request;
}
