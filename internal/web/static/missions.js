// Plateau — the batch page follows a batch while it loads: it polls the
// batch's progress and reloads itself once the batch is done or failed.
(function () {
  'use strict';
  var panel = document.getElementById('batch-progress');
  if (!panel) {
    return;
  }
  var url = panel.getAttribute('data-url');
  var records = document.getElementById('progress-records');
  var quarantined = document.getElementById('progress-quarantined');
  var bytes = document.getElementById('progress-bytes');
  function tick() {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) {
          throw new Error('HTTP ' + r.status);
        }
        return r.json();
      })
      .then(function (p) {
        if (!p.active) {
          window.location.reload();
          return;
        }
        records.textContent = String(p.progress);
        quarantined.textContent = String(p.quarantined);
        bytes.textContent = String(p.bytes);
        window.setTimeout(tick, 2000);
      })
      .catch(function () {
        window.setTimeout(tick, 5000);
      });
  }
  window.setTimeout(tick, 1000);
})();
