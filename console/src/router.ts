/**
 * The console's routes on the History API (no library: five paths). A path change re-renders the
 * app through {@link useLocation}; `pgdts serve` answers index.html for these paths on a reload.
 */
import { useEffect, useState } from 'react';

/** A page of the console. */
export type Route =
  | { readonly page: 'data-sources' }
  | { readonly page: 'tasks' }
  | { readonly page: 'new-task' }
  | { readonly page: 'task'; readonly id: string };

/** The route of a path (the data sources page for `/` and unknown paths). */
export function routeOf(path: string): Route {
  if (path === '/tasks') return { page: 'tasks' };
  if (path === '/tasks/new') return { page: 'new-task' };
  const m = /^\/tasks\/(t[0-9a-z]{12})$/.exec(path);
  if (m?.[1] !== undefined) return { page: 'task', id: m[1] };
  return { page: 'data-sources' };
}

/** Goes to `path` without a reload. */
export function navigate(path: string): void {
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** The current path, updated on navigation. */
export function useLocation(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const on = () => setPath(window.location.pathname);
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return path;
}
