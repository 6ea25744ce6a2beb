import { useCallback, useEffect, useState } from 'react';

/** The current location, kept in step with the History API. */
export interface Route {
  path: string;
  search: URLSearchParams;
}

function currentRoute(): Route {
  return { path: window.location.pathname, search: new URLSearchParams(window.location.search) };
}

/** Tracks the route of a two-route app: `/` and `/accounts/{account}`. The server sends index.html for both. */
export function useRoute(): [Route, (url: string) => void] {
  const [route, setRoute] = useState(currentRoute);

  useEffect(() => {
    const onPopState = () => setRoute(currentRoute());
    window.addEventListener('popstate', onPopState);
    return () => window.removeEventListener('popstate', onPopState);
  }, []);

  const navigate = useCallback((url: string) => {
    // With this marker the back button can call history.back(), because the previous entry is this app's report.
    window.history.pushState({ app: true }, '', url);
    setRoute(currentRoute());
  }, []);

  return [route, navigate];
}

/** Returns the account named by `/accounts/{account}`, or null for any other path. */
export function accountOfPath(path: string): string | null {
  const match = /^\/accounts\/(.+)$/.exec(path);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

export function accountUrl(account: string, from: string, to: string): string {
  const search = new URLSearchParams({ from, to });
  return `/accounts/${encodeURIComponent(account)}?${search.toString()}`;
}

/** The evidence of a signal to highlight on an account's chart. */
export interface EvidenceHighlight {
  signal: string;
  /** Report days, YYYY-MM-DD, in order. */
  days: string[];
}

/** Builds the account page address for a signal: its period and the evidence days to highlight. */
export function evidenceUrl(
  account: string,
  period: { from: string; to: string },
  signal: { signal: string; evidenceDays: string[] },
): string {
  const search = new URLSearchParams({
    from: period.from,
    to: period.to,
    signal: signal.signal,
    evidence: signal.evidenceDays.join(','),
  });
  return `/accounts/${encodeURIComponent(account)}?${search.toString()}`;
}

/** Reads the highlight of an account page address; null when it has none. */
export function highlightOf(search: URLSearchParams): EvidenceHighlight | null {
  const signal = search.get('signal');
  const evidence = search.get('evidence');
  if (!signal || !evidence) return null;

  const days = evidence.split(',').filter((day) => /^\d{4}-\d{2}-\d{2}$/.test(day));
  return days.length > 0 ? { signal, days: [...new Set(days)].sort() } : null;
}
