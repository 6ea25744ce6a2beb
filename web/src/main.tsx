import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { App } from './App';
import './styles.css';

// The app restores the report's scroll position itself after an account page.
window.history.scrollRestoration = 'manual';

const root = document.getElementById('root');
if (!root) throw new Error('The page has no #root element; index.html is not the report page.');

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
