import { StrictMode, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { api, setSession } from './api.js';
import { useRoute } from './router.js';
import { ErrorBox, Loading } from './components/common.jsx';
import Catalog from './pages/Catalog.jsx';
import TypePage from './pages/TypePage.jsx';
import Deploy from './pages/Deploy.jsx';
import Instances from './pages/Instances.jsx';
import Instance from './pages/Instance.jsx';
import Rollout from './pages/Rollout.jsx';
import Graph from './pages/Graph.jsx';
import Login from './pages/Login.jsx';
import './style.css';

function Page({ route, session }) {
  const [first, a, b, c] = route.parts;
  if (first === 'types' && a) return <TypePage type={a} params={route.params} session={session} />;
  if (first === 'deploy' && a) return <Deploy key={route.path + JSON.stringify(route.params)} type={a} params={route.params} session={session} />;
  if (first === 'instances' && a && b && c === 'rollout') return <Rollout namespace={a} name={b} session={session} />;
  if (first === 'instances' && a && b) return <Instance namespace={a} name={b} session={session} />;
  if (first === 'instances') return <Instances params={route.params} />;
  if (first === 'graph') return <Graph params={route.params} />;
  return <Catalog />;
}

const NAV = [['catalog', 'Catalog'], ['instances', 'Instances'], ['graph', 'Service graph']];

function App() {
  const route = useRoute();
  const [session, setState] = useState(null);
  const [problem, setProblem] = useState(null);
  const load = useCallback(async () => {
    try {
      const found = await api('/api/session');
      setSession(found);
      setState(found);
      setProblem(null);
    } catch (e) {
      setState(null);
      setProblem(e);
    }
  }, []);
  useEffect(() => { load(); }, [load]);
  useEffect(() => {
    const [first] = route.parts;
    const name = NAV.find(([key]) => key === first)?.[1] || (first === 'types' || first === 'deploy' ? 'Catalog' : 'Catalog');
    document.title = `${route.parts.slice(1).join('/') || name} — chartkit console`;
  }, [route]);
  if (problem?.status === 401) return <Login onLoggedIn={load} />;
  if (!session) return problem ? <main id="main"><ErrorBox error={problem} /></main> : <Loading what="the console" />;
  const current = route.parts[0] === 'types' || route.parts[0] === 'deploy' ? 'catalog' : route.parts[0] || 'catalog';
  const logout = async () => { await api('/api/logout', { method: 'POST', body: {} }); load(); };
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header className="top">
        <span className="brand">chartkit</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([key, label]) => (
              <li key={key}><a href={`#/${key}`} aria-current={current === key ? 'page' : undefined}>{label}</a></li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {session.user} ({session.role}){session.readOnly ? ' · read-only' : ''}
          {session.auth.includes('token') ? <button type="button" className="link" onClick={logout}>log out</button> : null}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} session={session} />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')).render(<StrictMode><App /></StrictMode>);
