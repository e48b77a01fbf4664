import { readFileSync } from 'node:fs';
import path from 'node:path';
// Nx's own YAML parser (pinned by the lockfile): no new dependency for one structural check.
import { parse, parseAllDocuments } from 'yaml';

// deploy/ has no cluster or Docker daemon to run against in CI: these checks hold its files
// to what the app serves (probe ports and paths, roles, the conveyor command's path), so a
// rename on either side fails here rather than in someone's cluster.
const root = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
}
interface Container {
  env?: Array<{ name: string; value: string }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: {
    template?: { spec: { containers: Container[]; terminationGracePeriodSeconds?: number } };
  };
}

function manifests(): Manifest[] {
  const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as { resources: string[] };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(read(`deploy/k8s/${file}`)).map((doc) => doc.toJS() as Manifest),
  );
}

function container(all: Manifest[], name: string): Container {
  const deployment = all.find((m) => m.kind === 'Deployment' && m.metadata.name === name);
  return deployment!.spec!.template!.spec.containers[0];
}

const env = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;

describe('deploy/', () => {
  it('probes workers and relays on the probe server the app starts, and the API on Terminus', () => {
    const all = manifests();
    expect(all.map((m) => m.kind)).toEqual(
      expect.arrayContaining(['Namespace', 'ConfigMap', 'Secret', 'StatefulSet', 'Service']),
    );
    for (const name of ['worker', 'relay']) {
      const c = container(all, name);
      const port = c.ports!.find((p) => p.name === 'probe')!.containerPort;
      expect(env(c, 'PROBE_PORT')).toBe(String(port));
      expect(env(c, 'ROLES')).toBe(name);
      expect(c.livenessProbe!.httpGet).toEqual({ path: '/live', port: 'probe' });
      expect(c.readinessProbe!.httpGet).toEqual({ path: '/ready', port: 'probe' });
    }
    const api = container(all, 'api');
    expect(env(api, 'HOST')).toBe('0.0.0.0');
    expect(api.readinessProbe!.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(api.livenessProbe!.httpGet).toEqual({ path: '/health/live', port: 'http' });
    // Longer than the sample app's shutdownTimeout (10s), so jobs are handed back in time.
    const worker = all.find((m) => m.metadata.name === 'worker')!;
    expect(worker.spec!.template!.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
  });

  it('runs every role in docker-compose.yml, its worker checked by conveyor ping', () => {
    const compose = parse(read('deploy/docker-compose.yml')) as {
      services: Record<
        string,
        { environment?: Record<string, string>; healthcheck?: { test: string[] } }
      >;
    };
    expect(Object.keys(compose.services).sort()).toEqual([
      'api',
      'postgres',
      'redis',
      'relay',
      'worker',
    ]);
    for (const [name, service] of Object.entries(compose.services)) {
      expect({ name, healthcheck: Boolean(service.healthcheck) }).toEqual({
        name,
        healthcheck: true,
      });
    }
    const worker = compose.services.worker;
    expect(worker.environment).toMatchObject({ ROLES: 'worker', PROBE_PORT: '9464' });
    const bin = (JSON.parse(read('packages/tasks/package.json')) as { bin: { conveyor: string } })
      .bin.conveyor;
    expect(worker.healthcheck!.test.slice(0, 4)).toEqual([
      'CMD',
      'node',
      `packages/tasks/${bin}`,
      'ping',
    ]);
    expect(compose.services.relay.healthcheck!.test.join(' ')).toContain(
      'http://127.0.0.1:9464/ready',
    );
  });
});
