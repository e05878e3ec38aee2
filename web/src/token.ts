/**
 * The server's bearer token: asked once when the server refuses a request, kept in sessionStorage
 * (gone when the tab closes), sent as the Authorization header and in graphql-ws connectionParams.
 */
import { h } from './dom.ts';

const KEY = 'tl.token';
let asking: Promise<string> | null = null;

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function authHeader(): Record<string, string> {
  const token = getToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Shows the token form (once, however many requests were refused) and resolves with what was typed. */
export function askToken(reason: string): Promise<string> {
  return (asking ??= new Promise<string>((resolve) => {
    const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'token', required: true });
    const form = h(
      'form',
      { class: 'token-form', id: 'token-form' },
      h('p', {}, `This server needs a token (${reason}).`),
      input,
      h('button', { type: 'submit' }, 'Use token'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      dialog.remove();
      asking = null;
      resolve(input.value.trim());
    });
    const dialog = h('div', { class: 'overlay' }, form);
    document.body.append(dialog);
    input.focus();
  }));
}
