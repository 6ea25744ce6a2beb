import { useEffect, useRef } from 'react';

import { LEGACY_TLS, type Summary } from './api';
import { formatCount, formatPercent, formatPeriod, percentOf } from './format';
import { TlsMix } from './TlsMix';

interface FlyoutProps {
  summary: Summary;
  onClose: () => void;
  onViewReport: () => void;
}

/**
 * A side panel with the widget's week in detail. It is not modal: the report behind it stays
 * usable, and Escape or the close button closes it.
 */
export function Flyout({ summary, onClose, onViewReport }: FlyoutProps) {
  const headingRef = useRef<HTMLHeadingElement>(null);
  const legacy = LEGACY_TLS.reduce((sum, protocol) => sum + summary.tls[protocol], 0);

  useEffect(() => {
    headingRef.current?.focus();
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKeyDown);
    return () => document.removeEventListener('keydown', onKeyDown);
  }, [onClose]);

  return (
    <aside
      id="flyout"
      className="flyout"
      data-testid="flyout"
      role="dialog"
      aria-modal="false"
      aria-labelledby="flyout-title"
    >
      <div className="flyout-header">
        <h2 id="flyout-title" ref={headingRef} tabIndex={-1}>
          SMTP AUTH clients
        </h2>
        <button
          type="button"
          className="icon-button"
          aria-label="Close"
          data-testid="flyout-close"
          onClick={onClose}
        >
          ×
        </button>
      </div>
      <p className="flyout-period">{formatPeriod(summary.from, summary.to)}</p>

      <dl className="stat-list">
        <div>
          <dt>Accounts</dt>
          <dd data-testid="flyout-accounts">{formatCount(summary.accounts)}</dd>
        </div>
        <div>
          <dt>Messages</dt>
          <dd data-testid="flyout-messages">{formatCount(summary.messages)}</dd>
        </div>
        <div>
          <dt>Recipients</dt>
          <dd data-testid="flyout-recipients">{formatCount(summary.recipients)}</dd>
        </div>
        <div>
          <dt>Failed logins</dt>
          <dd data-testid="flyout-failures">{formatCount(summary.failures)}</dd>
        </div>
      </dl>

      <h3>TLS versions</h3>
      {legacy > 0 && (
        <p className="warning-text" data-testid="flyout-legacy">
          {formatCount(legacy)} of {formatCount(summary.messages)} messages (
          {formatPercent(percentOf(legacy, summary.messages))}) used TLS 1.0, TLS 1.1 or no TLS.
          These clients fail once the server requires TLS 1.2 or newer.
        </p>
      )}
      <TlsMix counts={summary.tls} testId="flyout-tls" />

      <a
        className="flyout-link"
        href="#report"
        data-testid="view-full-report"
        onClick={(event) => {
          event.preventDefault();
          onViewReport();
        }}
      >
        View the full report
      </a>
    </aside>
  );
}
