// The agent's screen: lease renewal while a card is open, keyboard
// shortcuts for the outcomes, the callback picker's check, and "call ended"
// (wrap-up). Everything here is an addition: the page works without it.
(function () {
  'use strict';

  var card = document.getElementById('card');
  if (!card) {
    return;
  }
  var mission = card.getAttribute('data-mission');
  var contact = card.getAttribute('data-contact');
  var form = document.getElementById('qualify');
  var csrfInput = form ? form.querySelector('input[name="csrf"]') : null;
  var csrf = csrfInput ? csrfInput.value : '';

  function post(url, fields) {
    var body = new URLSearchParams();
    body.set('csrf', csrf);
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' },
      body: body
    });
  }

  // Lease renewal: the contact stays this agent's while the card is open.
  var every = parseInt(card.getAttribute('data-renew'), 10);
  if (every > 0) {
    var timer = window.setInterval(function () {
      post('/floor/renew', { mission: mission, contact: contact }).then(function (res) {
        if (res.status === 409) {
          window.clearInterval(timer);
          var lost = document.getElementById('lease-lost');
          if (lost) {
            lost.hidden = false;
          }
        }
      }).catch(function () { /* offline for a moment: the next round retries */ });
    }, every * 1000);
  }

  // Call ended: the agent moves to wrap-up while typing the outcome.
  var wrap = document.getElementById('btn-wrapup');
  if (wrap) {
    wrap.hidden = false;
    wrap.addEventListener('click', function () {
      post('/floor/presence', { mission: mission, state: 'wrapup' }).then(function (res) {
        if (res.ok) {
          wrap.disabled = true;
        }
      });
    });
  }

  // The callback picker asks the server whether the rules accept the time.
  var at = document.getElementById('callback-at');
  var verdict = document.getElementById('callback-verdict');
  if (at && verdict) {
    at.addEventListener('change', function () {
      verdict.textContent = '';
      at.setCustomValidity('');
      if (!at.value) {
        return;
      }
      var q = new URLSearchParams({ mission: mission, contact: contact, at: at.value });
      fetch('/floor/callback-check?' + q.toString(), {
        credentials: 'same-origin',
        headers: { 'Accept': 'application/json' }
      }).then(function (res) {
        return res.ok ? res.json() : null;
      }).then(function (v) {
        if (v && !v.callable) {
          verdict.textContent = v.message || '';
          verdict.classList.add('callback-refused');
        } else {
          verdict.classList.remove('callback-refused');
        }
      }).catch(function () {});
    });
  }

  // Keyboard shortcuts: 1 to 9 press the outcome buttons, unless the agent
  // is typing. An outcome that needs a callback time asks for it first.
  document.addEventListener('keydown', function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) {
      return;
    }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : '';
    if (tag === 'input' || tag === 'textarea' || tag === 'select' || (t && t.isContentEditable)) {
      return;
    }
    if (!form || !/^[1-9]$/.test(ev.key)) {
      return;
    }
    var btn = form.querySelector('button[data-key="' + ev.key + '"]');
    if (!btn) {
      return;
    }
    ev.preventDefault();
    if (btn.getAttribute('data-callback') === '1' && at && !at.value) {
      at.focus();
      return;
    }
    btn.click();
  });
})();
