/** Node names as Celery builds them: `name@host`, with %h, %n, %d and %% expanded. */
import { hostname as osHostname } from 'node:os';

/** The default node name prefix (Celery uses `celery`). */
export const DEFAULT_NODE_NAME = 'celeriac';

/**
 * Expand Celery's node name variables: `%h` the full host name, `%n` its
 * first label, `%d` the rest (the domain), `%%` a literal percent sign.
 * `%i`/`%I` (pool process index) have no meaning here and expand to `0`/`''`,
 * as in Celery's main process.
 */
export function expandHostname(pattern: string, host: string = osHostname()): string {
  const dot = host.indexOf('.');
  const name = dot < 0 ? host : host.slice(0, dot);
  const domain = dot < 0 ? '' : host.slice(dot + 1);
  return pattern.replace(/%([hndiI%])/g, (_m, c: string) => {
    switch (c) {
      case 'h':
        return host;
      case 'n':
        return name;
      case 'd':
        return domain;
      case 'i':
        return '0';
      case 'I':
        return '';
      default:
        return '%';
    }
  });
}

/**
 * The worker's node name from `-n`: like Celery's `default_nodename`, a value
 * without `@` is taken as the host part (`-n box1` gives `celeriac@box1`), and
 * no value gives `celeriac@<hostname>`.
 */
export function nodeName(option: string | undefined, host: string = osHostname()): string {
  const raw = option && option.length ? option : `${DEFAULT_NODE_NAME}@%h`;
  const at = raw.indexOf('@');
  const [name, hostPart] = at < 0 ? [DEFAULT_NODE_NAME, raw] : [raw.slice(0, at) || DEFAULT_NODE_NAME, raw.slice(at + 1) || '%h'];
  return `${expandHostname(name, host)}@${expandHostname(hostPart, host)}`;
}
