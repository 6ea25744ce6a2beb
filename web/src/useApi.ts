import { useEffect, useState } from 'react';

import { ApiError, fetchJson } from './api';

export interface ApiState<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
}

/**
 * Fetches a JSON endpoint and refetches when the URL or `version` changes. A null URL fetches
 * nothing. The previous data stays on screen while the next response loads, so tables do not
 * flicker. Raise `version` to fetch again after a change made through the API.
 */
export function useApi<T>(url: string | null, version = 0): ApiState<T> {
  const [state, setState] = useState<ApiState<T>>({ data: null, error: null, loading: !!url });

  useEffect(() => {
    if (!url) return;
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));

    fetchJson<T>(url, controller.signal).then(
      (data) => {
        // A response that arrives after the request was replaced must not overwrite the newer one.
        if (controller.signal.aborted) return;
        setState({ data, error: null, loading: false });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setState({ data: null, error: toApiError(error), loading: false });
      },
    );
    return () => controller.abort();
  }, [url, version]);

  return state;
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new ApiError(
    `The request failed: ${detail}. Check that the server is running.`,
    0,
    'network',
  );
}
