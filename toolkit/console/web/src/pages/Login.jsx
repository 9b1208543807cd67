import { useState } from 'react';
import { api } from '../api.js';
import { ErrorBox } from '../components/common.jsx';

export default function Login({ onLoggedIn }) {
  const [token, setToken] = useState('');
  const [problem, setProblem] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setProblem(null);
    try {
      await api('/api/login', { method: 'POST', body: { token } });
      setToken('');
      onLoggedIn();
    } catch (e) {
      setProblem(e);
    }
  };
  return (
    <main id="main" className="login">
      <h1>chartkit console</h1>
      <form onSubmit={submit}>
        <label htmlFor="login-token">Access token</label>
        <input id="login-token" type="password" autoComplete="current-password" value={token}
               onChange={(e) => setToken(e.target.value)} required />
        <button type="submit" className="button primary">Log in</button>
        <ErrorBox error={problem} />
      </form>
    </main>
  );
}
