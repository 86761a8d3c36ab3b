// dropwhy exporter: Prometheus metrics of the drops, counted in the kernel as
// in summary mode and read from the count map at scrape time.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { release } from 'node:os';
import { UsageError } from '../errors';
import { DropMetrics } from '../output/metrics';
import { VERSION } from '../version';
import type { ExporterOptions, ListenAddress } from './options';
import { withSession, type CommandIo } from './session';

export const METRICS_PATH = '/metrics';
/** The paths the server answers; probes use the landing page. */
export const SERVED_PATHS = ['/', METRICS_PATH] as const;

const LANDING_PAGE = `<!doctype html>
<html><head><title>dropwhy exporter</title></head>
<body><h1>dropwhy exporter</h1>
<p>Why Linux dropped packets, counted in the kernel: <a href="${METRICS_PATH}">${METRICS_PATH}</a>.</p>
<p>The metrics are described in dropwhy's docs/metrics.md.</p>
</body></html>
`;

export function runExporter(options: ExporterOptions, io: CommandIo): Promise<void> {
  return withSession(options, io, async (session) => {
    const { context, kernel } = session;
    const metrics = new DropMetrics({
      reasons: context.reasons,
      hasReason: kernel.hasReason,
      symbols: context.symbols,
      version: VERSION,
      kernel: release(),
      idleMs: options.idleMs,
      pods: session.pods ?? undefined,
    });
    // Bound before the program is loaded: a port in use fails with nothing attached.
    const server = await listen(options.listen, (request, response) => {
      serve(request, response, metrics).catch((error) => io.logger.warn(`serving ${request.url}: ${(error as Error).message}`));
    });
    session.defer(() => close(server));
    // Scrapes until the program is attached get zeros, as from any exporter starting up.
    io.writeErr(`dropwhy: serving metrics on ${metricsUrl(server)}`);
    const tracer = await session.openTracer({ mode: 'count', countEntries: options.maxKeys, features: {} });
    metrics.attach(tracer);
    const { counters } = await session.run();
    session.writeClosing(counters);
  });
}

async function serve(request: IncomingMessage, response: ServerResponse, metrics: DropMetrics): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET and HEAD\n');
    return;
  }
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (path === METRICS_PATH) {
    const registry = metrics.registryFor(request.headers.accept);
    let body: string;
    try {
      body = await registry.metrics();
    } catch (error) {
      response.writeHead(500, { 'Content-Type': 'text/plain' }).end(`cannot read the kernel's counts: ${(error as Error).message}\n`);
      return;
    }
    response.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
  } else if (path === '/') {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(LANDING_PAGE);
  } else {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: try ${METRICS_PATH}\n`);
  }
}

function listen(address: ListenAddress, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Server> {
  const text = `${address.host?.includes(':') ? `[${address.host}]` : (address.host ?? '')}:${address.port}`;
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', (error: NodeJS.ErrnoException) => {
      // A host that is not this machine's, or no such name, is a bad --listen; a port taken is the machine's state.
      if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
        reject(new UsageError(`--listen ${text}: not an address of this machine (${error.code})`));
      } else if (error.code === 'EADDRINUSE') {
        reject(new Error(`--listen ${text}: the address is already in use`));
      } else {
        reject(new Error(`--listen ${text}: ${error.message}`));
      }
    });
    server.listen({ host: address.host ?? undefined, port: address.port }, () => resolve(server));
  });
}

function metricsUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}${METRICS_PATH}`;
}

/** Stops accepting, and ends kept-alive scrape connections so the close does not wait for them. */
function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
