// Sends the survey form to the JSON endpoint and thanks the citizen in place.
// Without this script the form posts itself; with it, any answer other than
// success or a field error is left to that post, whose page says what
// happened (already answered, expired, …) in the page's language.
(() => {
  'use strict';
  const form = document.getElementById('survey');
  if (!form || !window.fetch) return;
  const thanks = document.getElementById('thanks');
  const status = document.getElementById('status');
  const button = form.querySelector('button[type=submit]');
  const fields = ['resolved', 'rating', 'comment'];

  const showErrors = (bad) => {
    let first = null;
    for (const name of fields) {
      const msg = document.getElementById(name + '-error');
      const on = Object.prototype.hasOwnProperty.call(bad, name);
      msg.textContent = on ? msg.dataset.msg : '';
      const box = document.getElementById(name + '-field');
      box.classList.toggle('invalid', on);
      for (const el of box.querySelectorAll('input, textarea')) {
        if (on) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
      }
      if (on && !first) first = box.querySelector('input, textarea');
    }
    if (first) first.focus();
  };

  // A field the citizen changes loses its error message.
  const clear = (ev) => {
    const name = ev.target.name;
    if (!fields.includes(name)) return;
    document.getElementById(name + '-error').textContent = '';
    document.getElementById(name + '-field').classList.remove('invalid');
    for (const el of form.querySelectorAll('[name=' + name + ']')) el.removeAttribute('aria-invalid');
  };
  form.addEventListener('change', clear);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const resolved = data.get('resolved');
    const body = {
      resolved: resolved === 'yes' ? true : resolved === 'no' ? false : null,
      rating: data.get('rating') || '',
      comment: data.get('comment') || '',
    };
    button.disabled = true;
    status.textContent = form.dataset.sending;
    let res;
    try {
      res = await fetch(form.dataset.api, {
        method: 'POST', credentials: 'omit', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
    } catch {
      form.submit(); // the network failed: the plain post retries once
      return;
    }
    if (res.ok) {
      form.hidden = true;
      const summary = document.getElementById('summary');
      if (summary) summary.hidden = true;
      thanks.hidden = false;
      thanks.focus();
      return;
    }
    const err = res.status === 400 ? await res.json().then((b) => b.error, () => null) : null;
    if (err && err.fields && fields.some((f) => f in err.fields)) {
      button.disabled = false;
      status.textContent = '';
      showErrors(err.fields);
      return;
    }
    form.submit();
  });
})();
