/*
 * what-if.js: controls that recompute a chart in the page, for questions
 * asked in class ("what if the draft model were worse?").
 *
 * Load it after chart-defaults.js. The build writes, next to a chart, a
 * form.ld-whatif[data-chart-id=ID] with inputs named after the formula's
 * parameters, and the formula's name and fixed inputs in data-whatif (JSON).
 * On every change the form's values go through the formula, and the chart's
 * datasets are replaced by its result and redrawn without animation.
 *
 * The formulas are the experiments' own, written once more in JavaScript.
 * Each experiment also writes test vectors (inputs and expected outputs) to
 * its results, and a browser test replays them against these functions
 * through the controls, so the two copies cannot drift apart.
 *
 * A control that has focus keeps the arrow keys: it stops them from reaching
 * the slide viewer, which would otherwise move to the next slide.
 */
(function () {
  'use strict';

  const BYTES_PER_GB = 1e9;

  // --------------------------------------------------------------------------
  // Formulas (the same as in experiments/*.py)
  // --------------------------------------------------------------------------

  // experiments/speculative_decoding.py: expected_tokens and walltime_speedup.
  function expectedTokens(alpha, gamma) {
    if (alpha === 1) {
      return gamma + 1;
    }
    return (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
  }

  function walltimeSpeedup(alpha, gamma, costRatio) {
    return expectedTokens(alpha, gamma) / (gamma * costRatio + 1);
  }

  // experiments/model_sizes.py: kv_cache_bytes_per_token times the context.
  function kvCacheBytes(architecture, context, bytesPerValue) {
    return 2 * architecture.n_layers * architecture.n_kv_heads * architecture.head_dim * bytesPerValue * context;
  }

  // experiments/model_sizes.py: weight_bytes, parameters times bits over 8.
  function weightBytes(parameters, bitsPerParameter) {
    return (parameters * bitsPerParameter) / 8;
  }

  // Rounds to 6 significant digits, as the experiments round their results.
  function sig(value) {
    return Number(value.toPrecision(6));
  }

  // "4096", "32K", "128k" or "1M" tokens; null for anything else.
  function parseTokens(text) {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(String(text));
    if (!match || String(text).length > 20) {
      return null;
    }
    const scale = { '': 1, k: 1024, m: 1024 * 1024 }[match[2].toLowerCase()];
    const tokens = Math.round(Number(match[1]) * scale);
    return Number.isFinite(tokens) && tokens >= 1 ? tokens : null;
  }

  // experiments/moe_routing.py: route_token. Logits are the router input times each expert's
  // weight row, and softmax turns them into probabilities. The top k are renormalised to mix outputs.
  function routeToken(x, routerWeight, k) {
    const logits = routerWeight.map((row) => row.reduce((sum, w, i) => sum + w * x[i], 0));
    const top = Math.max(...logits);
    const exps = logits.map((logit) => Math.exp(logit - top));
    const total = exps.reduce((sum, value) => sum + value, 0);
    const probs = exps.map((value) => value / total);
    const chosen = probs
      .map((prob, index) => [prob, index])
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, k)
      .map(([, index]) => index);
    const chosenTotal = chosen.reduce((sum, index) => sum + probs[index], 0);
    return { logits, probs, chosen, weights: chosen.map((index) => probs[index] / chosenTotal) };
  }

  const GB = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const FIXED2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function fitsText(gigabytes, devices) {
    const fits = devices.filter((device) => gigabytes <= device.gb).map((device) => device.label);
    return fits.length > 0 ? `fits ${fits.join(', ')}` : 'fits none of the devices listed';
  }

  // Each formula takes the form's values and the fixed inputs, and returns
  // the datasets' new data and a one-line summary, or throws an Error whose
  // message is shown on the slide.
  const FORMULAS = {
    speculative(values, fixed) {
      const alpha = Number(values.alpha);
      const cost = Number(values.cost_ratio);
      const gammas = fixed.gammas;
      const tokens = gammas.map((gamma) => sig(expectedTokens(alpha, gamma)));
      const speedup = gammas.map((gamma) => sig(walltimeSpeedup(alpha, gamma, cost)));
      const best = speedup.indexOf(Math.max(...speedup));
      return {
        data: [tokens, speedup],
        summary: `Acceptance ${alpha}, draft step cost ${cost}: best draft length ${gammas[best]}, ${FIXED2.format(speedup[best])}x faster.`,
      };
    },

    kvCache(values, fixed) {
      const context = parseTokens(values.context);
      if (context === null) {
        throw new Error('Type a context length in tokens, such as 4096, 32K or 128K.');
      }
      if (context > fixed.max_context) {
        throw new Error(`${context.toLocaleString('en-US')} tokens is too long: type at most ${fixed.max_context.toLocaleString('en-US')}.`);
      }
      const bytesPerValue = Number(values.precision);
      const data = fixed.models.map((key) => sig(kvCacheBytes(fixed.architectures[key], context, bytesPerValue) / BYTES_PER_GB));
      const largest = Math.max(...data);
      return {
        data: [data],
        summary: `${context.toLocaleString('en-US')} tokens: from ${GB.format(Math.min(...data))} to ${GB.format(largest)} GB per sequence; the largest ${fitsText(largest, fixed.devices)}.`,
      };
    },

    router(values, fixed) {
      const text = String(values.token);
      const preview = text.length > 12 ? `${text.slice(0, 12)}...` : text;
      if (text.length === 0) {
        throw new Error('Type one character to route, such as e, 7 or (.');
      }
      if ([...text].length > 1) {
        throw new Error(`"${preview}" is ${[...text].length} characters; the model reads one byte at a time, so type a single character.`);
      }
      const index = fixed.characters.indexOf(text);
      if (index < 0) {
        throw new Error(`"${preview}" is outside the vocabulary this slide offers: printable ASCII characters.`);
      }
      const routed = routeToken(fixed.inputs[index], fixed.router_weight, fixed.top_k);
      const percent = (value) => `${Math.round(value * 100)}%`;
      const experts = routed.chosen.map((expert) => fixed.labels[expert]);
      const mix = routed.weights.map(percent).join(' : ');
      return {
        data: [routed.probs.map(sig)],
        summary: `"${text}" goes to ${experts.join(' and ')}, whose outputs are mixed ${mix}.`,
        chosen: routed.chosen,
      };
    },

    weightMemory(values, fixed) {
      const bits = Number(values.bits);
      const data = fixed.models.map((key) => sig(weightBytes(fixed.parameters[key], bits) / BYTES_PER_GB));
      const chosen = fixed.models.indexOf(values.model);
      const gigabytes = data[chosen];
      return {
        data: [data],
        summary: `${fixed.labels[chosen]} at ${bits} bits: ${GB.format(gigabytes)} GB of weights; ${fitsText(gigabytes, fixed.devices)}.`,
      };
    },
  };

  // --------------------------------------------------------------------------
  // Controls
  // --------------------------------------------------------------------------

  function readValues(form) {
    const values = {};
    for (const element of form.elements) {
      if (element.name) {
        values[element.name] = element.value;
      }
    }
    return values;
  }

  function showValue(form, element) {
    const output = form.querySelector(`output[for="${element.id}"]`);
    if (output) {
      output.textContent = element.value;
    }
  }

  function attach(form) {
    const chartId = form.dataset.chartId;
    const canvas = document.getElementById(`chart-${chartId}`);
    const settings = JSON.parse(form.dataset.whatif);
    const formula = FORMULAS[settings.formula];
    const message = form.querySelector('.ld-whatif-message');
    const summary = form.querySelector('.ld-whatif-summary');
    if (!formula) {
      message.textContent = `Unknown formula ${settings.formula}; the chart shows the experiment's results.`;
      return;
    }

    const update = () => {
      const chart = canvas && window.Chart ? window.Chart.getChart(canvas) : null;
      if (!chart) {
        return;
      }
      let result;
      try {
        result = formula(readValues(form), settings.fixed);
      } catch (error) {
        // Bad input: show the message on the slide and leave the chart as it was.
        message.textContent = error.message;
        form.dataset.state = 'invalid';
        return;
      }
      message.textContent = '';
      form.dataset.state = 'valid';
      result.data.forEach((data, index) => {
        chart.data.datasets[index].data = data;
      });
      chart.update('none');
      summary.textContent = result.summary;
    };

    form.addEventListener('input', (event) => {
      showValue(form, event.target);
      if (event.target.type !== 'text') {
        update();
      }
    });
    form.addEventListener('change', update);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      update();
    });
    // The viewer moves between slides on arrow keys, space and page keys.
    // Inside a focused control those keys belong to the control.
    form.addEventListener('keydown', (event) => event.stopPropagation());

    // The summary of the default state, without touching the chart, which
    // shows the experiment's own results until a control changes.
    try {
      summary.textContent = formula(readValues(form), settings.fixed).summary;
    } catch (error) {
      message.textContent = error.message;
    }
  }

  function attachAll() {
    document.querySelectorAll('form.ld-whatif').forEach(attach);
  }

  window.CDLWhatIf = {
    formulas: FORMULAS,
    expectedTokens,
    walltimeSpeedup,
    kvCacheBytes,
    weightBytes,
    routeToken,
    parseTokens,
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', attachAll, { once: true });
  } else {
    attachAll();
  }
})();
