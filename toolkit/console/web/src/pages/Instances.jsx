import { enc, query } from '../api.js';
import { go } from '../router.js';
import { Badge, ErrorBox, Loading, Table, short, useApi } from '../components/common.jsx';

export function Badges({ row }) {
  return (
    <span className="badges">
      {(row.badges || []).map((b) => <Badge key={`${b.kind} ${b.text}`} kind={b.kind} title={b.reason || b.text}>{b.text}</Badge>)}
    </span>
  );
}

// Drift and compliance alerts of one instance, re-checked while the page is open.
export function DriftCell({ namespace, name, every = 10000 }) {
  const { data, error } = useApi(`/api/instances/${enc(namespace)}/${enc(name)}/drift`, { every });
  if (error && !data) return <span className="muted" title={error.message}>drift unknown</span>;
  if (!data) return <span className="muted">checking…</span>;
  if (data.violation) return <Badge kind="violation">compliance violation ({data.changes.filter((c) => c.violation).length})</Badge>;
  if (data.drift) return <Badge kind="drift">drift ({data.changes.length})</Badge>;
  return <Badge kind="ok">no drift</Badge>;
}

const AUTO_DRIFT_ROWS = 12;  // beyond this many rows, drift is checked on the instance's own page

export default function Instances({ params }) {
  const namespace = params.namespace || '';
  const { data, error, loading } = useApi(`/api/instances${query({ namespace })}`, { every: 5000 });
  const rows = data?.instances || [];
  const namespaces = [...new Set(rows.map((r) => r.namespace))].sort();
  return (
    <>
      <h1>Instances</h1>
      <div className="toolbar">
        <label htmlFor="instances-namespace">Namespace</label>
        <input id="instances-namespace" defaultValue={namespace} placeholder="all" list="known-namespaces"
               onKeyDown={(e) => { if (e.key === 'Enter') go(`#/instances${query({ namespace: e.target.value })}`); }} />
        <datalist id="known-namespaces">{namespaces.map((n) => <option key={n} value={n} />)}</datalist>
        <button type="button" className="button" onClick={() => go(`#/instances${query({ namespace: document.getElementById('instances-namespace').value })}`)}>Show</button>
      </div>
      <ErrorBox error={error} />
      {loading && !data ? <Loading what="instances" /> : null}
      {data ? (
        <Table caption={`${rows.length} instance(s)${namespace ? ` in ${namespace}` : ''}; refreshed every 5 s`}>
          <thead>
            <tr><th scope="col">Instance</th><th scope="col">Type</th><th scope="col">Version</th><th scope="col">Digest</th>
              <th scope="col">Plan</th><th scope="col">Status</th><th scope="col">Notices</th><th scope="col">Alerts</th></tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.namespace}/${r.name}`} data-instance={`${r.namespace}/${r.name}`}>
                <th scope="row"><a href={`#/instances/${enc(r.namespace)}/${enc(r.name)}`}>{r.namespace}/{r.name}</a></th>
                <td>{r.type}</td>
                <td className="version-cell">{r.version}</td>
                <td><code title={r.digest}>{short(r.digest)}</code></td>
                <td>{r.plan || '—'}</td>
                <td><span className={`status status-${r.status}`}>{r.status}</span> (rev {r.revision})</td>
                <td><Badges row={r} />{r.note ? <span className="muted"> {r.note}</span> : null}</td>
                <td>{rows.length <= AUTO_DRIFT_ROWS ? <DriftCell namespace={r.namespace} name={r.name} />
                  : <a href={`#/instances/${enc(r.namespace)}/${enc(r.name)}`}>check</a>}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </>
  );
}
