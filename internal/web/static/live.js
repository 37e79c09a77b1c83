// The supervisor's live view: the server pushes one JSON snapshot per
// interval (Server-Sent Events, event "stats"), computed once for every
// viewer; this script writes it into the page. Data only ever goes in
// through textContent.
(function () {
  'use strict';

  var root = document.getElementById('live');
  if (!root || !window.EventSource) {
    return;
  }
  var mission = root.getAttribute('data-mission');
  var status = document.getElementById('live-status');
  var texts = document.getElementById('live-texts');

  function text(attr, code) {
    var el = texts ? texts.querySelector('[' + attr + '="' + cssEscape(code) + '"]') : null;
    return el ? el.textContent : code;
  }

  function cssEscape(s) {
    return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&');
  }

  function el(tag, content, cls) {
    var e = document.createElement(tag);
    if (content !== undefined && content !== null) {
      e.textContent = String(content);
    }
    if (cls) {
      e.className = cls;
    }
    return e;
  }

  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var r = s % 60;
    var mm = (h > 0 && m < 10 ? '0' : '') + m;
    return (h > 0 ? h + ':' : '') + mm + ':' + (r < 10 ? '0' : '') + r;
  }

  function fill(list, items, label) {
    var ul = document.getElementById(list);
    if (!ul) {
      return;
    }
    ul.replaceChildren();
    if (!items || items.length === 0) {
      ul.appendChild(el('li', ul.getAttribute('data-empty'), 'muted'));
      return;
    }
    items.forEach(function (it) {
      var li = el('li');
      li.setAttribute('data-key', it.key);
      li.appendChild(el('span', label(it), 'live-label'));
      li.appendChild(el('span', it.count, 'live-count'));
      ul.appendChild(li);
    });
  }

  function render(d) {
    root.querySelectorAll('[data-field]').forEach(function (e) {
      var v = d[e.getAttribute('data-field')];
      e.textContent = v === undefined ? '–' : String(v);
    });
    root.querySelectorAll('[data-agents]').forEach(function (e) {
      var v = d.agents_by_state ? d.agents_by_state[e.getAttribute('data-agents')] : 0;
      e.textContent = String(v || 0);
    });
    var at = document.getElementById('live-at');
    if (at && d.at) {
      at.setAttribute('datetime', d.at);
      at.textContent = new Date(d.at).toLocaleTimeString();
    }

    var serving = document.getElementById('live-serving');
    if (serving) {
      serving.hidden = !!d.serving;
      document.getElementById('live-serving-rule').textContent = d.serving ? '' : text('data-rule', d.serving_rule || '');
      document.getElementById('live-serving-next').textContent =
        !d.serving && d.serving_next ? '→ ' + new Date(d.serving_next).toLocaleString() : '';
    }

    fill('live-held', d.held, function (it) { return text('data-rule', it.key); });
    var closed = (d.closed_by_outcome || []).slice();
    if (d.closed_at_cap > 0) {
      closed.push({ key: 'closed_at_cap', label: text('data-text', 'closed_at_cap'), count: d.closed_at_cap });
    }
    fill('live-closed-by', closed, function (it) { return it.label || it.key; });
    fill('live-today', d.today_by_outcome, function (it) { return it.label || it.key; });

    var attempts = document.getElementById('live-attempt-rows');
    if (attempts) {
      attempts.replaceChildren();
      var total = 0;
      (d.attempts || []).forEach(function (a) { total += a.count; });
      (d.attempts || []).forEach(function (a) {
        var tr = el('tr');
        tr.setAttribute('data-attempts', a.key);
        tr.appendChild(el('td', a.key, 'num'));
        tr.appendChild(el('td', a.count, 'num live-count'));
        var bar = el('td');
        var p = document.createElement('progress');
        p.max = total || 1;
        p.value = a.count;
        bar.appendChild(p);
        tr.appendChild(bar);
        attempts.appendChild(tr);
      });
    }

    var rows = document.getElementById('live-agent-rows');
    if (rows) {
      rows.replaceChildren();
      var any = false;
      (d.sites || []).forEach(function (site) {
        (site.agents || []).forEach(function (a) {
          any = true;
          var tr = el('tr');
          tr.appendChild(el('td', site.site || text('data-text', 'default_site')));
          tr.appendChild(el('td', a.name));
          var st = el('td');
          st.appendChild(el('span', text('data-state', a.state), 'tag state-' + a.state));
          if (a.pause) {
            st.appendChild(el('span', ' ' + a.pause, 'muted'));
          }
          tr.appendChild(st);
          tr.appendChild(el('td', duration(a.seconds), 'num'));
          rows.appendChild(tr);
        });
      });
      if (!any) {
        var tr = el('tr');
        var td = el('td', text('data-text', 'no_agent'), 'muted');
        td.colSpan = 4;
        tr.appendChild(td);
        rows.appendChild(tr);
      }
    }
    root.setAttribute('data-updated', d.at || '');
  }

  var es = new EventSource('/live/events?mission=' + encodeURIComponent(mission));
  es.addEventListener('open', function () {
    if (status) {
      status.textContent = status.getAttribute('data-connected');
    }
  });
  es.addEventListener('error', function () {
    if (status) {
      status.textContent = status.getAttribute('data-lost');
    }
  });
  es.addEventListener('stats', function (ev) {
    var d;
    try {
      d = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    render(d);
  });
})();
