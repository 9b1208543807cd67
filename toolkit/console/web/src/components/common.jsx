import { useCallback, useEffect, useRef, useState } from 'react';
import { api, stream } from '../api.js';

// Load JSON from the API; `every` (ms) re-reads it so the page follows the cluster without a reload.
export function useApi(path, { every = 0 } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const alive = useRef(true);
  const load = useCallback(async () => {
    if (!path) return;
    try {
      const data = await api(path);
      if (alive.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (alive.current) setState((old) => ({ data: old.data, error, loading: false }));
    }
  }, [path]);
  useEffect(() => {
    alive.current = true;
    setState({ data: null, error: null, loading: true });
    load();
    let timer = null;
    if (every) timer = setInterval(load, every);
    return () => {
      alive.current = false;
      if (timer) clearInterval(timer);
    };
  }, [load, every]);
  return { ...state, reload: load };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <strong>{error.message}</strong>
      {error.hint ? <div className="hint">{error.hint}</div> : null}
    </div>
  );
}

export function Loading({ what }) {
  return <p className="muted" role="status">Loading {what}…</p>;
}

export function Badge({ kind, children, title }) {
  return <span className={`badge badge-${kind}`} title={title}>{children}</span>;
}

export function short(digest) {
  return digest ? digest.replace('sha256:', '').slice(0, 12) : '—';
}

export function when(seconds) {
  if (!seconds) return '';
  return new Date(seconds * 1000).toLocaleTimeString();
}

export function Table({ caption, children, className = '' }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table className={className}>
        <caption>{caption}</caption>
        {children}
      </table>
    </div>
  );
}

export function show(value) {
  if (value === null || value === undefined) return '(none)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

// An operation's progress, live over SSE, until it succeeds, fails (helm rolled back) or is stopped.
export function OperationProgress({ operation, onDone }) {
  const [op, setOp] = useState(operation);
  const [events, setEvents] = useState(operation.events || []);
  const done = useRef(false);
  useEffect(() => {
    setOp(operation);
    setEvents(operation.events || []);
    done.current = false;
    const close = stream(`/api/operations/${operation.id}/events`, {
      operation: (data) => {
        setOp(data);
        if (data.events?.length) setEvents((old) => [...old, ...data.events]);
        if (data.state !== 'running' && !done.current) {
          done.current = true;
          if (onDone) onDone(data);
        }
      },
      end: () => close(),
    });
    return close;
  }, [operation.id]);
  const label = { running: 'in progress', succeeded: 'done', failed: 'failed', cancelled: 'stopped' }[op.state];
  return (
    <section className={`operation operation-${op.state}`} aria-live="polite" data-state={op.state}>
      <h3>
        {op.kind} {op.namespace}/{op.instance}: <span className="op-state">{label}</span>
      </h3>
      <ol className="events">
        {events.map((event, i) => (
          <li key={i}>
            <span className="muted">{when(event.time)}</span> {event.message}
          </li>
        ))}
      </ol>
      {op.state === 'succeeded' && op.result ? (
        <p className="ok">
          {op.result.action || op.kind}: {op.result.type} {op.result.version} revision {op.result.revision}{' '}
          {op.result.status} <a href={`#/instances/${op.namespace}/${op.instance}`}>open the instance</a>
        </p>
      ) : null}
      {op.error ? <ErrorBox error={{ message: op.error.error, hint: op.error.hint }} /> : null}
    </section>
  );
}
