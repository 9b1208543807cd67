import { useState } from 'react';
import { api, enc, query } from '../api.js';
import { go } from '../router.js';
import { ErrorBox, Loading, OperationProgress, Table, short, show, useApi } from '../components/common.jsx';
import { Badges } from './Instances.jsx';

function Alerts({ namespace, name }) {
  const { data, error } = useApi(`/api/instances/${enc(namespace)}/${enc(name)}/drift`, { every: 10000 });
  if (!data) return error ? <ErrorBox error={error} /> : <Loading what="drift" />;
  if (!data.changes.length) return <p className="ok" data-drift="clean">No drift: the live objects are what the chart renders.</p>;
  return (
    <Table caption={data.violation ? 'Compliance violations and drift' : 'Drift: changes behind the chart’s back'}
           className="alerts">
      <thead>
        <tr><th scope="col">Alert</th><th scope="col">Object</th><th scope="col">Field</th><th scope="col">Chart wants</th>
          <th scope="col">Live</th><th scope="col">Who</th><th scope="col">When</th></tr>
      </thead>
      <tbody>
        {data.changes.map((c, i) => (
          <tr key={i} className={c.violation ? 'violation' : 'drift'} data-field={c.field}>
            <td>{c.violation ? 'compliance violation (locked parameter)' : `drift: ${c.change}`}</td>
            <td>{c.object}</td>
            <td><code>{c.field || '—'}</code></td>
            <td><code className="value">{show(c.old)}</code></td>
            <td><code className="value">{show(c.new)}</code></td>
            <td>{c.manager || 'unknown'}</td>
            <td>{c.time || '—'}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function Actions({ row, namespace, name, onStarted }) {
  const [version, setVersion] = useState(row.latest || row.version);
  const [strategy, setStrategy] = useState('blue-green');
  const [steps, setSteps] = useState('10,50,100');
  const [pause, setPause] = useState('0');
  const [check, setCheck] = useState('120');
  const [problem, setProblem] = useState(null);
  const base = `/api/instances/${enc(namespace)}/${enc(name)}`;
  const run = async (path, body, then) => {
    setProblem(null);
    try {
      const op = await api(path, { method: 'POST', body });
      if (then) then(op); else onStarted(op);
    } catch (e) {
      setProblem(e);
    }
  };
  return (
    <section aria-labelledby="actions">
      <h2 id="actions">Actions</h2>
      <ErrorBox error={problem} />
      <div className="actions">
        <fieldset>
          <legend>Upgrade (values kept)</legend>
          <label htmlFor="upgrade-version">To version</label>
          <input id="upgrade-version" value={version} onChange={(e) => setVersion(e.target.value)} />
          <button type="button" className="button" onClick={() => run(`${base}/upgrade`, { version })}>Upgrade</button>
        </fieldset>
        <fieldset>
          <legend>Values and plan</legend>
          <a className="button" href={`#/deploy/${enc(row.type)}${query({ instance: name, namespace, version: row.version })}`}>
            Change values or plan</a>
        </fieldset>
        <fieldset>
          <legend>Roll back</legend>
          <button type="button" className="button" onClick={() => run(`${base}/rollback`, {})}>Roll back to the previous revision</button>
        </fieldset>
        <fieldset>
          <legend>Start a rollout</legend>
          <label htmlFor="rollout-version">Version</label>
          <input id="rollout-version" value={version} onChange={(e) => setVersion(e.target.value)} />
          <label htmlFor="rollout-strategy">Strategy</label>
          <select id="rollout-strategy" value={strategy} onChange={(e) => setStrategy(e.target.value)}>
            <option value="blue-green">blue-green</option><option value="cutover">cutover</option>
            <option value="rolling">rolling</option>
          </select>
          <label htmlFor="rollout-steps">Steps (% to green)</label>
          <input id="rollout-steps" value={steps} onChange={(e) => setSteps(e.target.value)} />
          <label htmlFor="rollout-pause">Pause between steps (s)</label>
          <input id="rollout-pause" inputMode="decimal" value={pause} onChange={(e) => setPause(e.target.value)} />
          <label htmlFor="rollout-check">Check timeout (s)</label>
          <input id="rollout-check" inputMode="decimal" value={check} onChange={(e) => setCheck(e.target.value)} />
          <button type="button" className="button primary" onClick={() => run(`${base}/rollout`, {
            version, strategy, steps: steps.split(',').map((s) => Number(s.trim())).filter((n) => !Number.isNaN(n)),
            pauseSeconds: Number(pause), checkTimeoutSeconds: Number(check),
          }, () => go(`#/instances/${enc(namespace)}/${enc(name)}/rollout`))}>Start rollout</button>
        </fieldset>
      </div>
    </section>
  );
}

export default function Instance({ namespace, name, session }) {
  const { data, error, loading, reload } = useApi(`/api/instances/${enc(namespace)}/${enc(name)}`, { every: 5000 });
  const [operation, setOperation] = useState(null);
  if (loading && !data) return <Loading what={`${namespace}/${name}`} />;
  if (!data) return <><h1>{namespace}/{name}</h1><ErrorBox error={error} /></>;
  const row = data.instance;
  const op = operation || (data.operation?.state === 'running' ? data.operation : null);
  return (
    <>
      <h1>{namespace}/{name} <Badges row={row} /></h1>
      <dl className="facts">
        <dt>Type</dt><dd><a href={`#/types/${enc(row.type)}${query({ version: row.version })}`}>{row.type}</a></dd>
        <dt>Version</dt><dd data-version>{row.version}{row.latest && row.outdated ? ` (newest ${row.latest})` : ''}</dd>
        <dt>Digest</dt><dd><code title={row.digest}>{row.digest}</code></dd>
        <dt>Plan</dt><dd>{row.plan || '—'}</dd>
        <dt>Status</dt><dd><span className={`status status-${row.status}`}>{row.status}</span>, revision {row.revision}, {row.updated}</dd>
      </dl>
      {data.rollout ? (
        <p className="note">Last rollout: {data.rollout.strategy} {data.rollout.from} → {data.rollout.to}, {data.rollout.phase}.{' '}
          <a href={`#/instances/${enc(namespace)}/${enc(name)}/rollout`}>Open the rollout view</a></p>
      ) : <p className="muted"><a href={`#/instances/${enc(namespace)}/${enc(name)}/rollout`}>Rollout view</a></p>}
      {op ? <OperationProgress operation={op} onDone={() => { reload(); }} /> : null}
      <h2>Alerts</h2>
      <Alerts namespace={namespace} name={name} />
      <Table caption="Notices (raised by the watcher, newest first)" className="notices">
        <thead><tr><th scope="col">Notice</th><th scope="col">State</th><th scope="col">Since</th>
          <th scope="col">Message</th></tr></thead>
        <tbody>
          {(data.notices || []).length === 0 ? <tr><td colSpan={4} className="muted">none</td></tr> : data.notices.map((n, i) => (
            <tr key={i} className={`notice-${n.state}`} data-kind={n.kind}>
              <th scope="row">{n.kind}{n.consumer ? ` (consumer ${n.consumer})` : ''}</th>
              <td>{n.state}{n.resolvedAt ? ` ${n.resolvedAt.slice(0, 19)}` : ''}</td>
              <td>{(n.since || '').slice(0, 19)}</td><td>{n.message}</td></tr>
          ))}
        </tbody>
      </Table>
      {session.canChange ? <Actions row={row} namespace={namespace} name={name} onStarted={setOperation} /> : null}
      <Table caption="History">
        <thead><tr><th scope="col">Revision</th><th scope="col">Updated</th><th scope="col">Status</th><th scope="col">Version</th>
          <th scope="col">Digest</th><th scope="col">Description</th></tr></thead>
        <tbody>
          {data.history.slice().reverse().map((h) => (
            <tr key={h.revision}><th scope="row">{h.revision}</th><td>{h.updated.slice(0, 19)}</td><td>{h.status}</td>
              <td>{h.version}</td><td><code>{short(h.digest)}</code></td><td>{h.description}</td></tr>
          ))}
        </tbody>
      </Table>
      <Table caption="Bindings (key names only; values are never shown)">
        <thead><tr><th scope="col">Binding</th><th scope="col">Host</th><th scope="col">Keys</th></tr></thead>
        <tbody>
          {data.bindings.length === 0 ? <tr><td colSpan={3} className="muted">none</td></tr> : data.bindings.map((b) => (
            <tr key={`${b.namespace}/${b.name}`}><th scope="row">{b.namespace}/{b.name}</th><td>{b.host}:{b.port}</td>
              <td>{b.keys.join(', ')}</td></tr>
          ))}
        </tbody>
      </Table>
    </>
  );
}
