import { enc, query } from '../api.js';
import { go } from '../router.js';
import { Badge, ErrorBox, Loading, Table, short, show, useApi } from '../components/common.jsx';
import Markdown from '../components/Markdown.jsx';

function Source({ output }) {
  if (output.secret) return <>Secret <code>{output.secret}</code> key <code>{output.secretKey}</code></>;
  if (output.service) return <>Service <code>{output.service}</code>{output.port ? <> port <code>{output.port}</code></> : ' host'}</>;
  if (output.sensitive) return <span className="muted">a credential (not shown)</span>;
  if (output.template) return <>template <code>{output.template}</code></>;
  return <code>{show(output.value)}</code>;
}

// a long dotted name may wrap after each dot, never inside a word
function dotted(name) {
  const parts = name.split('.');
  return parts.map((part, i) => <span key={i}>{part}{i < parts.length - 1 ? <>.<wbr /></> : null}</span>);
}

export default function TypePage({ type, params, session }) {
  const { data, error, loading } = useApi(`/api/types/${enc(type)}${query({ version: params.version })}`);
  if (loading && !data) return <Loading what={type} />;
  if (!data) return <><h1>{type}</h1><ErrorBox error={error} /></>;
  const entry = data.entry || {};
  const decl = data.declarations || {};
  return (
    <>
      <h1>
        {data.type} <span className="version">{data.version}</span>{' '}
        {data.deprecated ? <Badge kind="deprecated">deprecated</Badge> : null}
        {entry.signed ? <Badge kind="signed">signed</Badge> : <Badge kind="muted">unsigned</Badge>}
      </h1>
      <p>{entry.description}</p>
      <div className="toolbar">
        <label htmlFor="type-version">Version</label>
        <select id="type-version" value={data.version}
                onChange={(e) => go(`#/types/${enc(type)}${query({ version: e.target.value })}`)}>
          {data.versions.map((v) => (
            <option key={v.version} value={v.version}>
              {v.version}{v.deprecated ? ' (deprecated)' : ''}{v.prerelease ? ' (prerelease)' : ''}
            </option>
          ))}
        </select>
        {session.canChange ? (
          <a className="button primary" href={`#/deploy/${enc(type)}${query({ version: data.version })}`}>
            Deploy {data.type} {data.version}
          </a>
        ) : <span className="muted">read-only: deploying needs an operator</span>}
      </div>
      {data.deprecated ? <p className="warning" role="note">This version is deprecated in the catalog.</p> : null}

      <h2 id="facts">Artifact</h2>
      <dl className="facts" aria-labelledby="facts">
        <dt>Reference</dt><dd><code>{entry.ref}:{entry.tag}</code></dd>
        <dt>Manifest digest</dt><dd><code title={data.digest}>{data.digest}</code></dd>
        <dt>Chart digest</dt><dd><code>{entry.chartDigest}</code></dd>
        <dt>App version</dt><dd>{entry.appVersion || '—'}</dd>
        <dt>Created</dt><dd>{entry.created || '—'}</dd>
        <dt>Signature</dt>
        <dd>{entry.signed ? 'signed: a Helm provenance file (.prov) is attached (helm verify checks it)' : 'not signed: no provenance file'}</dd>
      </dl>

      <h2>Images</h2>
      <ul className="images">
        {(entry.images || []).map((image) => {
          const [ref, digest] = image.split('@');
          return <li key={image}><code>{ref}</code>{digest ? <> digest <code>{digest}</code></> : <span className="muted"> (no digest pinned)</span>}</li>;
        })}
      </ul>

      <Table caption={`Parameters (${data.parameters.length}; locked ones marked)`} className="parameters">
        <thead>
          <tr><th scope="col">Parameter</th><th scope="col">Type</th><th scope="col">Default</th>
            <th scope="col">Locked</th><th scope="col">Description</th></tr>
        </thead>
        <tbody>
          {data.parameters.map((p) => (
            <tr key={p.name} data-parameter={p.name} className={p.locked ? 'locked' : ''}>
              <th scope="row"><code>{dotted(p.name)}</code></th>
              <td>{p.type}{p.enum ? <div className="muted">{p.enum.join(' | ')}</div> : null}</td>
              <td><code className="value">{show(p.default)}</code></td>
              <td>{p.locked ? <><Badge kind="locked">locked</Badge> <span className="reason">{p.reason}</span></> : 'no'}</td>
              <td>{p.description}</td>
            </tr>
          ))}
        </tbody>
      </Table>

      <h2>Plans</h2>
      <ul className="plans">
        {(decl.plans || []).map((plan) => (
          <li key={plan.name}>
            <strong>{plan.name}</strong>{plan.default ? ' (default)' : ''}{plan.free ? '' : ' (paid)'}: {plan.description}
            {Object.keys(plan.values || {}).length ? <div>sets <code>{JSON.stringify(plan.values)}</code></div> : null}
            {plan.locked?.length ? <div>locks {plan.locked.map((l) => <code key={l}>{l} </code>)}</div> : null}
          </li>
        ))}
      </ul>
      <p className="muted">Update strategy: {decl.updateStrategy?.kind || 'rolling'}; bindable: {decl.bindable ? 'yes' : 'no'}</p>

      <Table caption="Binding outputs (what a binding hands out; credential values are never shown)">
        <thead><tr><th scope="col">Key</th><th scope="col">From</th><th scope="col">Credential</th></tr></thead>
        <tbody>
          {(decl.outputs || []).length === 0 ? (
            <tr><td colSpan={3} className="muted">none declared: a binding hands out host, port and the instance's Secret keys</td></tr>
          ) : decl.outputs.map((o) => (
            <tr key={o.key}><th scope="row"><code>{o.key}</code></th><td><Source output={o} /></td><td>{o.sensitive ? 'yes' : 'no'}</td></tr>
          ))}
        </tbody>
      </Table>

      <h2>README</h2>
      {data.readme ? <Markdown text={data.readme} /> : <p className="muted">The chart has no README.</p>}
      <p className="muted">Version {data.version}, digest {short(data.digest)}</p>
    </>
  );
}
