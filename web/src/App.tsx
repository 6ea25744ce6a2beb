import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

import type { Insights, Summary } from './api';
import { AccountDetail } from './AccountDetail';
import type { FilterChoice, Preset } from './Filters';
import { Flyout } from './Flyout';
import { addDays, isDay, today } from './format';
import { Report, type Pivot } from './Report';
import { accountOfPath, accountUrl, highlightOf, useRoute } from './router';
import { useApi } from './useApi';
import { InsightsWidget, Widget } from './Widget';

/** The start of "All": the API takes inclusive dates and has no open-ended range. */
const ALL_FROM = '1970-01-01';

const SEARCH_DELAY_MS = 300;

/** Returns the end of "All": today, or the newest day with data when the server's zone is ahead. */
function allTo(newestDay: string | null): string {
  const now = today();
  return newestDay && newestDay > now ? newestDay : now;
}

interface Dates {
  from: string;
  to: string;
  error: string | null;
}

/** Computes the chosen dates. A preset ends at the newest day with data, as the widget's period does. */
function datesOf(
  choice: Pick<FilterChoice, 'preset' | 'customFrom' | 'customTo'>,
  newestDay: string,
): Dates {
  const preset: Preset = choice.preset;
  if (preset === 'all') return { from: ALL_FROM, to: allTo(newestDay), error: null };
  if (preset !== 'custom') {
    return { from: addDays(newestDay, -(Number(preset) - 1)), to: newestDay, error: null };
  }

  const { customFrom: from, customTo: to } = choice;
  if (!isDay(from) || !isDay(to)) {
    return { from, to, error: 'Enter both dates of the range.' };
  }
  if (from > to) {
    return { from, to, error: `The start date ${from} is after the end date ${to}.` };
  }
  return { from, to, error: null };
}

function useDebouncedValue(value: string, delayMs: number): string {
  const [debounced, setDebounced] = useState(value);

  useEffect(() => {
    const timer = window.setTimeout(() => setDebounced(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);

  return value === '' ? '' : debounced;
}

export function App() {
  const [route, navigate] = useRoute();
  const widget = useApi<Summary>('/api/summary');
  const [insightsVersion, setInsightsVersion] = useState(0);
  const openSignals = useApi<Insights>('/api/insights', insightsVersion);
  const [flyoutOpen, setFlyoutOpen] = useState(false);
  const [pivot, setPivot] = useState<Pivot>('volume');
  const [choice, setChoice] = useState<FilterChoice>({
    preset: '7',
    customFrom: '',
    customTo: '',
    domain: '',
    searchText: '',
  });
  const search = useDebouncedValue(choice.searchText.trim(), SEARCH_DELAY_MS);
  const reportHeadingRef = useRef<HTMLHeadingElement>(null);
  const widgetRef = useRef<HTMLDivElement>(null);
  const dashboardScroll = useRef(0);

  const newestDay = widget.data?.to ?? (widget.error ? today() : null);
  const { preset, customFrom, customTo } = choice;
  const chosen = useMemo(
    () => (newestDay ? datesOf({ preset, customFrom, customTo }, newestDay) : null),
    [preset, customFrom, customTo, newestDay],
  );

  // While the custom range is invalid, the report keeps showing the last valid range.
  const lastValid = useRef<Dates | null>(null);
  if (chosen && !chosen.error) lastValid.current = chosen;
  const from = lastValid.current?.from;
  const to = lastValid.current?.to;

  const query = useMemo(
    () =>
      from && to
        ? { from, to, domain: choice.domain || undefined, search: search || undefined }
        : null,
    [from, to, choice.domain, search],
  );

  const account = accountOfPath(route.path);
  const onDashboard = account === null;
  const highlight = useMemo(() => highlightOf(route.search), [route.search]);

  const accountHref = useCallback(
    (name: string) => accountUrl(name, query?.from ?? '', query?.to ?? ''),
    [query],
  );
  const openUrl = useCallback(
    (url: string) => {
      dashboardScroll.current = window.scrollY;
      setFlyoutOpen(false);
      navigate(url);
      window.scrollTo(0, 0);
    },
    [navigate],
  );
  const openAccount = useCallback(
    (name: string) => openUrl(accountHref(name)),
    [openUrl, accountHref],
  );
  const insightsReviewed = useCallback(() => setInsightsVersion((version) => version + 1), []);

  // Coming back from an account shows the report where the user left it.
  useEffect(() => {
    if (onDashboard) window.scrollTo(0, dashboardScroll.current);
  }, [onDashboard]);

  const goBack = () => {
    if ((window.history.state as { app?: boolean } | null)?.app) window.history.back();
    else navigate('/');
  };

  const closeFlyout = useCallback(() => {
    setFlyoutOpen(false);
    widgetRef.current?.querySelector('button')?.focus();
  }, []);

  const viewInsights = () => {
    setPivot('insights');
    viewReport();
  };

  const viewReport = () => {
    setFlyoutOpen(false);
    const heading = reportHeadingRef.current;
    heading?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    heading?.focus({ preventScroll: true });
  };

  const changeChoice = (change: Partial<FilterChoice>) =>
    setChoice((previous) => ({ ...previous, ...change }));

  return (
    <>
      <header className="app-header">
        <div className="app-header-inner">
          <h1>
            <a href="/">SMTP AUTH report</a>
          </h1>
          <p className="app-subtitle">Mail submitted with SMTP AUTH, per account and TLS version</p>
        </div>
      </header>

      <main className="app-main" hidden={!onDashboard}>
        <div className="widget-row" ref={widgetRef}>
          <Widget state={widget} expanded={flyoutOpen} onOpen={() => setFlyoutOpen(true)} />
          <InsightsWidget state={openSignals} onOpen={viewInsights} />
        </div>
        {query && (
          <Report
            choice={choice}
            query={query}
            dateError={chosen?.error ?? null}
            pivot={pivot}
            headingRef={reportHeadingRef}
            onChoiceChange={changeChoice}
            onPivotChange={setPivot}
            accountHref={accountHref}
            onOpenAccount={openAccount}
            insightsVersion={insightsVersion}
            onInsightsReviewed={insightsReviewed}
            onOpenUrl={openUrl}
          />
        )}
      </main>

      {account !== null && (
        <main className="app-main">
          <AccountDetail
            account={account}
            from={route.search.get('from') ?? query?.from ?? ''}
            to={route.search.get('to') ?? query?.to ?? ''}
            onBack={goBack}
            onShowAllDates={() => navigate(accountUrl(account, ALL_FROM, allTo(newestDay)))}
            highlight={highlight}
          />
        </main>
      )}

      {flyoutOpen && onDashboard && widget.data && (
        <Flyout summary={widget.data} onClose={closeFlyout} onViewReport={viewReport} />
      )}
    </>
  );
}
