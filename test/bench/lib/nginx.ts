import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NGINX = '/usr/sbin/nginx';

/**
 * A static-file nginx for benchmarks, configured the way one serves large files (sendfile,
 * tcp_nopush, no access log), with every path it writes inside `dir`. Returns the arguments to
 * start it in the foreground: `spawn(NGINX, args)`.
 */
export function nginxStaticConfig(dir: string, o: { listen: string; root: string; workers?: number | 'auto'; connections?: number }): string[] {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
${process.getuid?.() === 0 ? '# workers would drop to nobody, who cannot enter 0700 state dirs\nuser root;\n' : ''}worker_processes ${o.workers ?? 'auto'};
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections ${o.connections ?? 1024}; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server { listen ${o.listen}; root ${o.root}; }
}
`,
  );
  return ['-p', dir, '-c', conf];
}
