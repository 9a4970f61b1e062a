/** A health probe over HTTPS against a server with a self-signed or private CA. */
import { request } from 'node:https';

export interface ProbeOptions {
  /** PEM CA to verify the server with; without it the certificate is not verified. */
  ca?: string;
  token?: string;
  timeoutMs?: number;
}

/** GETs the URL and resolves with the status code and body. */
export function httpsGet(url: string, options: ProbeOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: options.ca,
        rejectUnauthorized: options.ca !== undefined,
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
        timeout: options.timeoutMs ?? 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
