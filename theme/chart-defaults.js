/*
 * chart-defaults.js: the Chart.js theme and chart runtime for livedeck slides.
 *
 * Load it once per page, after chart.umd.min.js (Chart.js 4). It
 *  - styles every chart with the colours and fonts that theme/livedeck.css
 *    defines as custom properties, read from the <section> around the canvas;
 *  - draws the declarative charts that the build writes into the slides: a
 *    figure.ld-chart[data-chart-id=ID] holding canvas#chart-ID (its size fixed
 *    by width and height attributes) and a script.ld-chart-spec of type
 *    application/json whose text is the Chart.js configuration;
 *  - signals when every declarative chart has drawn or failed, so a PDF export
 *    or a test can wait for it: window.CDLChart.ready resolves,
 *    <html data-charts-ready="true"> is set and "cdl:charts-ready" fires on
 *    document;
 *  - exposes window.CDLChart: the palette, colour helpers and short helpers
 *    (bar, line, pie, scatter, doughnut, radar) for charts written by hand.
 *
 * A plain `new Chart(canvas, config)` gets the same look, because the theme
 * lives in Chart.defaults, Chart.overrides and a registered plugin, and the
 * Chart constructor itself is left untouched.
 */
(function () {
  'use strict';

  if (window.CDLChart && window.CDLChart.ready) {
    console.warn('chart-defaults.js is loaded more than once on this page. Only the first copy runs.');
    return;
  }

  const ChartJs = window.Chart;

  const CHART_JS_MISSING = 'Chart.js is not loaded before chart-defaults.js';

  // Chart.js draws at least two device pixels per CSS pixel, so a PDF printed
  // at 96 CSS pixels per inch carries chart images of at least 192 ppi.
  const MIN_PIXEL_RATIO = 2;

  // The maximum wait for the chart fonts. After it the charts are drawn in
  // whatever font is available, so a font that never loads cannot hang the page.
  const FONT_WAIT_MS = 3000;

  // Duration of animated updates after the first draw, in milliseconds.
  const UPDATE_ANIMATION_MS = 400;

  const PLUGIN_ID = 'cdlTheme';

  // ==========================================================================
  // Palette: CSS custom properties of the theme, with built-in fallbacks
  // ==========================================================================

  // The values of theme/livedeck.css, used for any property the page lacks.
  const FALLBACK_PROPERTIES = {
    '--dartmouth-green': '#00693e',
    '--text-primary': '#0a2518',
    '--text-secondary': '#46594e',
    '--slide-bg': '#f7f7f5',
    '--chart-color-1': '#00693e',
    '--chart-color-2': '#267aba',
    '--chart-color-3': '#ffa00f',
    '--chart-color-4': '#9d162e',
    '--chart-color-5': '#8a6996',
    '--chart-color-6': '#a5d75f',
    '--chart-color-7': '#003c73',
    '--chart-color-8': '#d94415',
    '--chart-color-9': '#643c20',
    '--chart-color-10': '#c4dd88',
    '--chart-color-11': '#f5dc69',
    '--chart-color-12': '#424141',
    '--chart-bg-1': 'rgba(0, 105, 62, 0.5)',
    '--chart-bg-2': 'rgba(38, 122, 186, 0.5)',
    '--chart-bg-3': 'rgba(255, 160, 15, 0.5)',
    '--chart-bg-4': 'rgba(157, 22, 46, 0.5)',
    '--chart-bg-5': 'rgba(138, 105, 150, 0.5)',
    '--chart-bg-6': 'rgba(165, 215, 95, 0.5)',
    '--chart-positive': '#00693e',
    '--chart-negative': '#9d162e',
    '--chart-neutral': '#424141',
    '--chart-highlight': '#ffa00f',
    '--chart-grid-light': 'rgba(0, 105, 62, 0.1)',
    '--chart-grid-medium': 'rgba(0, 105, 62, 0.15)',
    '--chart-grid-dark': 'rgba(0, 105, 62, 0.2)',
    '--chart-axis-color': '#0a2518',
    '--chart-font-family': "'Source Sans 3', 'Helvetica Neue', Arial, sans-serif",
    '--chart-font-family-mono': "'JetBrains Mono', 'DejaVu Sans Mono', monospace",
  };

  const CHART_COLOR_COUNT = 12;
  const CHART_BG_COLOR_COUNT = 6;

  // Marp puts the theme's :root properties on each slide's <section>, so a
  // chart takes them from its own slide. Outside Marp the document root is used.
  function findStyleScope(element) {
    const ownSection = element && typeof element.closest === 'function' ? element.closest('section') : null;
    return ownSection || document.querySelector('section') || document.documentElement;
  }

  // While a batch of charts is drawn, palettes already read, by style scope.
  // Reading computed styles after a chart changed the DOM forces the browser
  // to recompute styles, so the batch reads every palette first, in one go.
  let paletteCache = null;

  function readPalette(element) {
    const scope = findStyleScope(element);
    if (paletteCache && paletteCache.has(scope)) {
      return paletteCache.get(scope);
    }
    const palette = readPaletteFrom(scope);
    if (paletteCache) {
      paletteCache.set(scope, palette);
    }
    return palette;
  }

  function readPaletteFrom(scope) {
    const style = scope && typeof getComputedStyle === 'function' ? getComputedStyle(scope) : null;

    const read = (name) => {
      const value = style ? style.getPropertyValue(name).trim() : '';
      return value || FALLBACK_PROPERTIES[name];
    };
    const readNumbered = (prefix, count) =>
      Array.from({ length: count }, (_, index) => read(`${prefix}${index + 1}`));

    return {
      dartmouthGreen: read('--dartmouth-green'),
      textPrimary: read('--text-primary'),
      textSecondary: read('--text-secondary'),
      chartColors: readNumbered('--chart-color-', CHART_COLOR_COUNT),
      chartBgColors: readNumbered('--chart-bg-', CHART_BG_COLOR_COUNT),
      positive: read('--chart-positive'),
      negative: read('--chart-negative'),
      neutral: read('--chart-neutral'),
      highlight: read('--chart-highlight'),
      gridLight: read('--chart-grid-light'),
      gridMedium: read('--chart-grid-medium'),
      gridDark: read('--chart-grid-dark'),
      axisColor: read('--chart-axis-color'),
      fontFamily: read('--chart-font-family'),
      fontFamilyMono: read('--chart-font-family-mono'),
      slideBackground: read('--slide-bg'),
    };
  }

  // ==========================================================================
  // Colour helpers
  // ==========================================================================

  // Parses #rgb, #rgba, #rrggbb, #rrggbbaa, rgb() and rgba() into [r, g, b]
  // with channels 0-255, or returns null for any other colour syntax.
  function parseRgbChannels(color) {
    if (typeof color !== 'string') {
      return null;
    }
    const text = color.trim();

    const hex = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(text);
    if (hex) {
      let digits = hex[1];
      if (digits.length <= 4) {
        digits = Array.from(digits, (digit) => digit + digit).join('');
      }
      return [0, 2, 4].map((start) => parseInt(digits.slice(start, start + 2), 16));
    }

    const channel = '([\\d.]+%?)';
    const functional = new RegExp(
      `^rgba?\\(\\s*${channel}[\\s,]+${channel}[\\s,]+${channel}\\s*(?:[,/]\\s*[\\d.]+%?\\s*)?\\)$`,
      'i',
    ).exec(text);
    if (functional) {
      return functional.slice(1, 4).map((value) =>
        value.endsWith('%') ? Math.round(parseFloat(value) * 2.55) : Math.round(Number(value)),
      );
    }
    return null;
  }

  // Returns the colour as rgba() with the given alpha. A colour in any other
  // syntax (a name, hsl(), a gradient) is returned unchanged.
  function getColorWithAlpha(color, alpha) {
    const channels = parseRgbChannels(color);
    if (!channels) {
      return color;
    }
    return `rgba(${channels[0]}, ${channels[1]}, ${channels[2]}, ${alpha})`;
  }

  function pickColor(colors, index) {
    const count = colors.length;
    const position = Math.floor(Number(index)) || 0;
    return colors[((position % count) + count) % count];
  }

  // Series colour number `index` of the page palette, cycling after twelve.
  function getColor(index) {
    return pickColor(readPalette(null).chartColors, index);
  }

  function getColors(count) {
    const colors = readPalette(null).chartColors;
    const length = Math.max(0, Math.floor(count) || 0);
    return Array.from({ length }, (_, index) => pickColor(colors, index));
  }

  // ==========================================================================
  // Fonts
  // ==========================================================================

  // Sizes in CSS pixels for a 1280x720 slide.
  const fonts = {
    sizes: {
      title: 22,
      subtitle: 18,
      legend: 16,
      axisTitle: 18,
      axisTicks: 16,
      tooltip: 14,
      dataLabels: 14,
    },
    weight: {
      normal: 400,
      medium: 500,
      bold: 600,
    },
  };

  // Resolves once the chart font family has loaded at the weights the charts
  // use (400 and 600), or after FONT_WAIT_MS, whichever comes first.
  function waitForChartFonts(fontFamily) {
    if (!document.fonts || typeof document.fonts.load !== 'function') {
      return Promise.resolve();
    }

    const loads = [fonts.weight.normal, fonts.weight.bold].map((weight) =>
      document.fonts.load(`${weight} ${fonts.sizes.axisTicks}px ${fontFamily}`).catch(() => []),
    );
    const loaded = Promise.all(loads)
      .then(() => document.fonts.ready)
      .then(() => true);

    let timer = null;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve(false), FONT_WAIT_MS);
    });

    return Promise.race([loaded, timedOut]).then((fontsLoaded) => {
      clearTimeout(timer);
      if (!fontsLoaded) {
        console.warn(
          `Chart fonts (${fontFamily}) did not load within ${FONT_WAIT_MS} ms, ` +
            'so charts are drawn with the fonts available now. Check the @font-face rules.',
        );
      }
    });
  }

  // ==========================================================================
  // Motion: animation only where it cannot get in the way
  // ==========================================================================

  let printing = false;

  function mediaMatches(query) {
    return typeof window.matchMedia === 'function' && window.matchMedia(query).matches;
  }

  // Animation is off while printing (a PDF would capture a half-drawn frame),
  // under browser automation (screenshots must be deterministic) and when the
  // reader asks for reduced motion.
  function isMotionAllowed() {
    if (printing || mediaMatches('print')) {
      return false;
    }
    if (navigator.webdriver) {
      return false;
    }
    return !mediaMatches('(prefers-reduced-motion: reduce)');
  }

  function getPixelRatio() {
    return Math.max(window.devicePixelRatio || 1, MIN_PIXEL_RATIO);
  }

  // ==========================================================================
  // Theme plugin and Chart.js defaults
  // ==========================================================================

  // Per chart: the palette of its slide, whether it has rendered once, and the
  // `animation` option its author gave, which the first draw replaces by false.
  const chartStates = new WeakMap();

  function getChartState(chart) {
    let state = chartStates.get(chart);
    if (!state) {
      state = {
        palette: readPalette(chart.canvas),
        rendered: false,
        hasOwnAnimation: false,
        ownAnimation: undefined,
      };
      chartStates.set(chart, state);
    }
    return state;
  }

  // Sets the chart's `animation` option for its next update: false before
  // the first render and whenever motion is not allowed, otherwise the
  // author's own value (or the default when the author gave none).
  function applyAnimationPolicy(chart) {
    const state = getChartState(chart);
    const options = chart.config.options;

    if (!state.rendered || !isMotionAllowed()) {
      options.animation = false;
    } else if (state.hasOwnAnimation) {
      options.animation = state.ownAnimation;
    } else {
      delete options.animation;
    }
  }

  const themePlugin = {
    id: PLUGIN_ID,

    beforeInit(chart) {
      ensureGlobalDefaults(chart.canvas);

      const state = getChartState(chart);
      const options = chart.config.options;
      state.hasOwnAnimation = Object.prototype.hasOwnProperty.call(options, 'animation');
      state.ownAnimation = options.animation;
      applyAnimationPolicy(chart);
    },

    afterRender(chart) {
      const state = getChartState(chart);
      if (state.rendered) {
        return;
      }
      state.rendered = true;
      applyAnimationPolicy(chart);
    },

    // A data point written as {x, y, label} gets its label drawn beside it,
    // so a scatter of a few named models reads without a tooltip or a legend
    // entry per point.
    afterDatasetsDraw(chart) {
      drawPointLabels(chart);
    },
  };

  function drawPointLabels(chart) {
    const context = chart.ctx;
    const area = chart.chartArea;
    const font = ChartJs.helpers.toFont(ChartJs.defaults.font);

    context.save();
    context.font = font.string;
    context.fillStyle = ChartJs.defaults.color;
    context.textBaseline = 'middle';
    chart.data.datasets.forEach((dataset, datasetIndex) => {
      if (!chart.isDatasetVisible(datasetIndex)) {
        return;
      }
      const elements = chart.getDatasetMeta(datasetIndex).data;
      dataset.data.forEach((point, index) => {
        const element = elements[index];
        if (!element || !isPlainObject(point) || typeof point.label !== 'string') {
          return;
        }
        // Beside the point on the right, or on the left near the right edge.
        const gap = (element.options && element.options.radius ? element.options.radius : 4) + 6;
        const width = context.measureText(point.label).width;
        const onLeft = element.x + gap + width > area.right;
        context.textAlign = onLeft ? 'right' : 'left';
        context.fillText(point.label, element.x + (onLeft ? -gap : gap), element.y);
      });
    });
    context.restore();
  }

  // Re-evaluates animation for every chart when printing starts or ends or
  // the reduced-motion preference changes. A running animation is finished
  // at once, so print never captures a frame in between.
  function refreshAnimationPolicies() {
    const motionAllowed = isMotionAllowed();

    for (const chart of Object.values(ChartJs.instances)) {
      applyAnimationPolicy(chart);
      const running = ChartJs.animator ? ChartJs.animator.running(chart) : true;
      if (!motionAllowed && running) {
        chart.stop();
        chart.update('none');
      }
    }
  }

  function watchMotionConditions() {
    window.addEventListener('beforeprint', () => {
      printing = true;
      refreshAnimationPolicies();
    });
    window.addEventListener('afterprint', () => {
      printing = false;
      refreshAnimationPolicies();
    });

    if (typeof window.matchMedia !== 'function') {
      return;
    }
    for (const query of ['print', '(prefers-reduced-motion: reduce)']) {
      const list = window.matchMedia(query);
      if (typeof list.addEventListener === 'function') {
        list.addEventListener('change', refreshAnimationPolicies);
      }
    }
  }

  // The element whose custom properties the global defaults were read from.
  let defaultsScope = null;

  // Applies the global defaults once, from the slide around `element` or else
  // the first slide. Defaults read before any <section> existed (the script
  // runs in <head>) are read again when the first chart is created.
  // NOTE: text, grid and font defaults are global in Chart.js, so a slide that
  // overrides those custom properties changes only its series colours.
  function ensureGlobalDefaults(element) {
    const scope = findStyleScope(element);
    const readFromRoot = defaultsScope === document.documentElement;
    if (defaultsScope && !(readFromRoot && scope !== document.documentElement)) {
      return;
    }
    defaultsScope = scope;
    applyGlobalDefaults(readPalette(scope));
  }

  function applyGlobalDefaults(palette) {
    const defaults = ChartJs.defaults;
    const { sizes, weight } = fonts;

    defaults.font.family = palette.fontFamily;
    defaults.font.size = sizes.axisTicks;
    defaults.font.weight = weight.normal;
    defaults.color = palette.textPrimary;
    defaults.borderColor = palette.gridLight;
    defaults.devicePixelRatio = getPixelRatio();

    // Charts written by hand fill their container, so the slide sizes the
    // container. Declarative charts set a fixed size instead.
    defaults.responsive = true;
    defaults.maintainAspectRatio = false;
    defaults.animation.duration = UPDATE_ANIMATION_MS;

    // Chart.js's own Colors plugin would overwrite the theme's series colours.
    defaults.plugins.colors.enabled = false;

    const legendLabels = defaults.plugins.legend.labels;
    legendLabels.font = { size: sizes.legend, weight: weight.normal };
    legendLabels.color = palette.textPrimary;
    legendLabels.usePointStyle = true;
    // With usePointStyle the marker's size follows boxHeight, which would
    // otherwise be the font size and draw a marker larger than the text.
    legendLabels.boxWidth = 10;
    legendLabels.boxHeight = 10;
    legendLabels.padding = 18;

    const title = defaults.plugins.title;
    title.font = { size: sizes.title, weight: weight.bold };
    title.color = palette.textPrimary;
    title.padding = { top: 4, bottom: 12 };

    const subtitle = defaults.plugins.subtitle;
    subtitle.font = { size: sizes.subtitle, weight: weight.normal };
    subtitle.color = palette.textSecondary;

    const tooltip = defaults.plugins.tooltip;
    tooltip.backgroundColor = palette.textPrimary;
    tooltip.titleFont = { size: sizes.tooltip, weight: weight.bold };
    tooltip.bodyFont = { size: sizes.tooltip, weight: weight.normal };
    tooltip.footerFont = { size: sizes.tooltip, weight: weight.normal };
    tooltip.padding = 10;
    tooltip.cornerRadius = 4;

    // Chart.defaults.scale is the base that every cartesian scale type falls back to.
    const scale = defaults.scale;
    scale.grid.color = palette.gridLight;
    scale.border.color = palette.gridDark;
    scale.ticks.color = palette.axisColor;
    scale.ticks.font = { size: sizes.axisTicks };
    scale.title.color = palette.textPrimary;
    scale.title.font = { size: sizes.axisTitle, weight: weight.normal };

    const radial = defaults.scales.radialLinear;
    radial.grid.color = palette.gridMedium;
    radial.angleLines.color = palette.gridMedium;
    radial.pointLabels.color = palette.textPrimary;
    radial.pointLabels.font = { size: sizes.axisTicks };
    radial.ticks.color = palette.textSecondary;
    radial.ticks.font = { size: sizes.dataLabels };
    radial.ticks.maxTicksLimit = 6;
    radial.ticks.backdropColor = getColorWithAlpha(palette.slideBackground, 0.8);
  }

  // Per-type layout defaults. They live in Chart.overrides, so any value in a
  // chart's own options takes precedence.
  function applyTypeOverrides() {
    const overrides = ChartJs.overrides;

    // Bars: no grid lines across the category axis (x, or y when indexAxis is 'y').
    overrides.bar.scales._index_.grid.display = false;

    // Lines: the tooltip lists every series at the hovered x position.
    overrides.line.interaction = { mode: 'index', intersect: false };

    // Pie and doughnut: legend on the right of a wide slide chart.
    for (const type of ['pie', 'doughnut']) {
      const plugins = overrides[type].plugins || (overrides[type].plugins = {});
      const legend = plugins.legend || (plugins.legend = {});
      legend.position = 'right';
    }
  }

  // ==========================================================================
  // Automatic series colours
  // ==========================================================================

  // Series colours are scriptable dataset defaults (Chart.defaults.datasets).
  // A colour the author sets on a dataset, in options.datasets or in
  // options.elements takes precedence, and Chart.js resolves them again on
  // every update, so added datasets and slices get colours too.

  function getPalette(context) {
    return getChartState(context.chart).palette;
  }

  function seriesColor(context) {
    return pickColor(getPalette(context).chartColors, context.datasetIndex);
  }

  function sliceColor(context) {
    return pickColor(getPalette(context).chartColors, context.dataIndex);
  }

  // The dataset's own colour, when the author set one as a single string.
  function ownColor(context, property) {
    const value = context.dataset ? context.dataset[property] : undefined;
    return typeof value === 'string' ? value : null;
  }

  function lineColor(context) {
    return ownColor(context, 'borderColor') || seriesColor(context);
  }

  // ==========================================================================
  // Contrast: a second cue for series colours that are light on the slide
  // ==========================================================================

  // Non-text marks need a contrast of 3:1 with what is around them (WCAG 2.1,
  // success criterion 1.4.11). A series colour below that, such as the light
  // greens and yellows of the palette, gets a second cue: a dashed line, a
  // distinct point shape, or a dark outline on its bars.
  const MIN_CONTRAST = 3;
  const WEAK_POINT_STYLES = ['triangle', 'rectRot', 'rect', 'star'];

  function relativeLuminance(channels) {
    const linear = channels.map((channel) => {
      const value = channel / 255;
      return value <= 0.04045 ? value / 12.92 : Math.pow((value + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
  }

  function contrastRatio(color, background) {
    const fore = parseRgbChannels(color);
    const back = parseRgbChannels(background);
    if (!fore || !back) {
      return Infinity;  // an unparsed colour is left as the author gave it
    }
    const [light, dark] = [relativeLuminance(fore), relativeLuminance(back)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
  }

  function isWeak(context, color) {
    return contrastRatio(color, getPalette(context).slideBackground) < MIN_CONTRAST;
  }

  // The colour mixed with black until it reaches 3:1 on the slide.
  function outlineColor(context, color) {
    const channels = parseRgbChannels(color);
    if (!channels) {
      return color;
    }
    for (let keep = 0.9; keep > 0; keep -= 0.1) {
      const darker = '#' + channels.map((c) => Math.round(c * keep).toString(16).padStart(2, '0')).join('');
      if (!isWeak(context, darker)) {
        return darker;
      }
    }
    return '#000000';
  }

  // Among the weak series of a chart, the first gets a triangle, the next a
  // diamond, and so on, so two weak series never share a shape.
  function weakPointStyle(context, color) {
    if (!isWeak(context, color)) {
      return 'circle';
    }
    const weakBefore = context.chart.data.datasets
      .slice(0, context.datasetIndex)
      .filter((dataset, index) => isWeak(context, pickColor(getPalette(context).chartColors, index))).length;
    return WEAK_POINT_STYLES[weakBefore % WEAK_POINT_STYLES.length];
  }

  function applyDatasetDefaults() {
    const datasets = ChartJs.defaults.datasets;
    const barFill = (context) => ownColor(context, 'borderColor') || seriesColor(context);

    Object.assign(datasets.bar, {
      backgroundColor: barFill,
      borderColor: (context) => {
        const fill = barFill(context);
        return ownColor(context, 'backgroundColor') || (isWeak(context, fill) ? outlineColor(context, fill) : fill);
      },
      borderWidth: (context) => (isWeak(context, barFill(context)) ? 2 : 0),
    });

    Object.assign(datasets.line, {
      borderColor: seriesColor,
      backgroundColor: (context) => getColorWithAlpha(lineColor(context), 0.1),
      borderWidth: 3,
      borderDash: (context) => (isWeak(context, lineColor(context)) ? [10, 6] : []),
      pointBackgroundColor: lineColor,
      pointBorderColor: (context) => {
        const color = lineColor(context);
        return isWeak(context, color) ? outlineColor(context, color) : color;
      },
      pointStyle: (context) => weakPointStyle(context, lineColor(context)),
      pointRadius: 4,
      pointHoverRadius: 6,
      // A point on the edge of the plot area is drawn whole, not cut in half.
      clip: false,
    });

    Object.assign(datasets.scatter, {
      backgroundColor: (context) => getColorWithAlpha(lineColor(context), 0.75),
      borderColor: (context) => {
        const color = lineColor(context);
        return isWeak(context, color) ? outlineColor(context, color) : color;
      },
      pointStyle: (context) => weakPointStyle(context, lineColor(context)),
      pointRadius: 6,
      pointHoverRadius: 8,
      clip: false,
    });

    Object.assign(datasets.bubble, {
      backgroundColor: (context) => getColorWithAlpha(lineColor(context), 0.6),
      borderColor: seriesColor,
    });

    for (const type of ['pie', 'doughnut']) {
      Object.assign(datasets[type], {
        backgroundColor: sliceColor,
        borderColor: (context) => getPalette(context).slideBackground,
        borderWidth: 2,
      });
    }

    Object.assign(datasets.polarArea, {
      backgroundColor: (context) => getColorWithAlpha(sliceColor(context), 0.7),
      borderColor: (context) => getPalette(context).slideBackground,
      borderWidth: 2,
    });

    Object.assign(datasets.radar, {
      borderColor: seriesColor,
      backgroundColor: (context) => getColorWithAlpha(lineColor(context), 0.2),
      borderWidth: 2,
      pointBackgroundColor: lineColor,
      pointBorderColor: lineColor,
      pointRadius: 3,
    });
  }

  // ==========================================================================
  // Named number formats for JSON specs
  // ==========================================================================

  // JSON cannot hold callbacks, so a spec names a format instead. The locale
  // is fixed so that every machine renders the same text.
  const NUMBER_FORMATS = {
    // 0.123 -> "12%"
    percent: new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 0 }),
    // 0.1234 -> "12.3%"
    percent1: new Intl.NumberFormat('en-US', {
      style: 'percent',
      minimumFractionDigits: 1,
      maximumFractionDigits: 1,
    }),
    // 1234.5 -> "1,235"
    integer: new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }),
    // 1234.5 -> "1,234.50"
    fixed2: new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    // 1234567 -> "1.2M"
    compact: new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }),
  };

  function lookupFormat(name, optionPath) {
    if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(NUMBER_FORMATS, name)) {
      const known = Object.keys(NUMBER_FORMATS).join(', ');
      throw new Error(`unknown format ${JSON.stringify(name)} in ${optionPath}: use one of ${known}`);
    }
    const formatter = NUMBER_FORMATS[name];
    return (value) => {
      const isNumber = typeof value === 'number' && Number.isFinite(value);
      return isNumber ? formatter.format(value) : String(value);
    };
  }

  function makeTickCallback(format) {
    return function formatTick(value, index, ticks) {
      if (this.type !== 'linear' && this.type !== 'logarithmic' && this.type !== 'radialLinear') {
        return this.getLabelForValue(value);
      }
      // On a log scale Chart.js labels only some ticks of each decade. Keep
      // that choice and change only the text.
      if (this.type === 'logarithmic') {
        const defaultLabel = ChartJs.Ticks.formatters.logarithmic.call(this, value, index, ticks);
        if (defaultLabel === '') {
          return '';
        }
      }
      return format(value);
    };
  }

  // `ticks.logSteps: [1, 2, 5]` on a logarithmic scale labels only the ticks
  // 1, 2 and 5 times a power of ten, so crowded labels like 80, 90, 100 go.
  function keepLogSteps(steps, callback, optionPath) {
    if (!Array.isArray(steps) || !steps.every((step) => typeof step === 'number' && step >= 1 && step < 10)) {
      throw new Error(`${optionPath} must be a list of numbers from 1 to 9.99, such as [1, 2, 5]`);
    }
    return function labelLogStep(value, index, ticks) {
      const power = Math.pow(10, Math.floor(Math.log10(value)));
      const mantissa = value / power;
      if (!steps.some((step) => Math.abs(step - mantissa) < 1e-6)) {
        return '';
      }
      return callback ? callback.call(this, value, index, ticks) : ChartJs.Ticks.formatters.numeric.call(this, value, index, ticks);
    };
  }

  function makeTooltipLabel(format) {
    return function formatTooltipLabel(item) {
      const meta = item.chart.getDatasetMeta(item.datasetIndex);
      const parsed = item.parsed;
      const isSliceChart = typeof parsed === 'number';

      let valueText;
      if (isSliceChart) {
        valueText = format(parsed);
      } else if (parsed.r !== undefined && parsed.x === undefined) {
        valueText = format(parsed.r);
      } else if (meta.type === 'scatter' || meta.type === 'bubble') {
        valueText = `(${format(parsed.x)}, ${format(parsed.y)})`;
      } else {
        valueText = format(item.chart.options.indexAxis === 'y' ? parsed.x : parsed.y);
      }

      const name = item.dataset.label || (isSliceChart ? item.label : '');
      return name ? `${name}: ${valueText}` : valueText;
    };
  }

  // Replaces `ticks.format` on each scale and `plugins.tooltip.format` by
  // the matching callbacks. Throws on an unknown format name.
  function applyNamedFormats(options) {
    const scales = isPlainObject(options.scales) ? options.scales : {};
    for (const [scaleId, scale] of Object.entries(scales)) {
      if (!isPlainObject(scale) || !isPlainObject(scale.ticks)) {
        continue;
      }
      if ('format' in scale.ticks) {
        const format = lookupFormat(scale.ticks.format, `options.scales.${scaleId}.ticks.format`);
        delete scale.ticks.format;
        scale.ticks.callback = makeTickCallback(format);
      }
      if ('logSteps' in scale.ticks) {
        scale.ticks.callback = keepLogSteps(scale.ticks.logSteps, scale.ticks.callback, `options.scales.${scaleId}.ticks.logSteps`);
        delete scale.ticks.logSteps;
      }
    }

    const tooltip = isPlainObject(options.plugins) ? options.plugins.tooltip : undefined;
    if (isPlainObject(tooltip) && 'format' in tooltip) {
      const format = lookupFormat(tooltip.format, 'options.plugins.tooltip.format');
      delete tooltip.format;
      tooltip.callbacks = Object.assign({}, tooltip.callbacks, { label: makeTooltipLabel(format) });
    }
  }

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  // ==========================================================================
  // Failures and the page-level ready signal
  // ==========================================================================

  const failures = [];
  const charts = {};
  const specOutcome = { drawn: [], failed: [] };

  let resolveReady = null;
  const ready = new Promise((resolve) => {
    resolveReady = resolve;
  });

  // Records a failure, logs it and shows it on the slide. `anchor` is an
  // element inside the chart's figure, or null when there is nothing to mark.
  function recordFailure(id, reason, anchor, dataSource) {
    failures.push({ id, reason });
    const source = dataSource ? ` (data: ${dataSource})` : '';
    console.error(`Chart "${id}"${source} failed: ${reason}`);
    if (anchor) {
      showErrorBox(anchor, id, reason);
    }
  }

  function showErrorBox(anchor, id, reason) {
    const box = document.createElement('div');
    box.className = 'ld-chart-error';
    box.setAttribute('role', 'alert');
    box.textContent = `Chart "${id}" failed: ${reason}`;

    const figure = anchor.closest('figure.ld-chart');
    if (!figure) {
      anchor.insertAdjacentElement('afterend', box);
      return;
    }
    figure.dataset.chartState = 'failed';
    const canvas = figure.querySelector('canvas');
    const caption = figure.querySelector('figcaption');
    if (canvas) {
      canvas.insertAdjacentElement('beforebegin', box);
    } else if (caption) {
      caption.insertAdjacentElement('beforebegin', box);
    } else {
      figure.appendChild(box);
    }
  }

  function markDrawn(id, anchor) {
    specOutcome.drawn.push(id);
    const figure = anchor.closest('figure.ld-chart');
    if (figure) {
      figure.dataset.chartState = 'drawn';
    }
  }

  function announceReady() {
    const result = {
      drawn: specOutcome.drawn.slice(),
      failed: specOutcome.failed.map((failure) => ({ id: failure.id, reason: failure.reason })),
    };
    document.documentElement.dataset.chartsReady = 'true';
    document.dispatchEvent(new CustomEvent('cdl:charts-ready', { detail: result }));
    resolveReady(result);
  }

  // ==========================================================================
  // Declarative charts
  // ==========================================================================

  // Parses and validates one spec and returns {canvas, config}. Throws an
  // Error whose message is the failure reason.
  function prepareSpec(id, script) {
    let config;
    try {
      config = JSON.parse(script.textContent);
    } catch (error) {
      throw new Error(`invalid JSON in the chart spec: ${error.message}`);
    }

    if (!isPlainObject(config)) {
      throw new Error('the chart spec is not a JSON object');
    }
    if (typeof config.type !== 'string' || config.type === '') {
      throw new Error('the chart spec has no "type"');
    }
    try {
      ChartJs.registry.getController(config.type);
    } catch (error) {
      const known = Object.keys(ChartJs.registry.controllers.items || {}).sort().join(', ');
      throw new Error(
        `unknown chart type ${JSON.stringify(config.type)}: use one of ${known} (Chart.js ${ChartJs.version})`,
      );
    }
    if (!isPlainObject(config.data)) {
      throw new Error('the chart spec has no "data" object');
    }
    if (config.options === undefined) {
      config.options = {};
    } else if (!isPlainObject(config.options)) {
      throw new Error('"options" in the chart spec is not an object');
    }

    const canvasId = `chart-${id}`;
    const canvas = document.getElementById(canvasId);
    if (!canvas) {
      throw new Error(`canvas #${canvasId} not found: the figure needs a <canvas> with this id`);
    }
    if (!(canvas instanceof HTMLCanvasElement)) {
      throw new Error(`#${canvasId} is a <${canvas.tagName.toLowerCase()}>, not a <canvas>`);
    }
    if (ChartJs.getChart(canvas)) {
      throw new Error(`canvas #${canvasId} already has a chart`);
    }

    applyNamedFormats(config.options);

    // The build fixes the canvas size, and the theme plugin must see every
    // declarative chart, since it reports the first render.
    const options = config.options;
    options.responsive = false;
    options.maintainAspectRatio = false;
    options.devicePixelRatio = getPixelRatio();
    if (isPlainObject(options.plugins) && options.plugins[PLUGIN_ID] === false) {
      delete options.plugins[PLUGIN_ID];
    }

    return { canvas, config };
  }

  function drawSpec(job) {
    let chart;
    try {
      chart = new ChartJs(job.canvas, job.config);
    } catch (error) {
      const partial = ChartJs.getChart(job.canvas);
      if (partial) {
        partial.destroy();
      }
      throw new Error(`Chart.js could not create the chart: ${error.message}`);
    }

    // With animation off, Chart.js 4.6 renders inside the constructor, so a
    // chart that has not rendered by now never will (for example, a detached canvas).
    if (!getChartState(chart).rendered) {
      chart.destroy();
      throw new Error('Chart.js created the chart but did not render it');
    }
    charts[job.id] = chart;
  }

  // Draws every declarative chart on the page, then announces readiness.
  // Each spec ends in exactly one of specOutcome.drawn and specOutcome.failed.
  // NOTE: it runs once, so specs added to the page after DOMContentLoaded are
  // not drawn.
  async function drawDeclarativeCharts() {
    const scripts = Array.from(document.querySelectorAll('script.ld-chart-spec'));
    const settled = new Set();

    const fail = (id, script, reason) => {
      settled.add(script);
      specOutcome.failed.push({ id, reason });
      // The build names the experiment results a chart reads in data-sources
      // (JSON) or data-source, and the log line repeats them.
      recordFailure(id, reason, script, script.dataset.sources || script.dataset.source);
    };

    try {
      const jobs = [];
      const seenIds = new Set();

      scripts.forEach((script, index) => {
        const id = (script.dataset.chartId || '').trim();
        if (!id) {
          fail(`spec ${index + 1}`, script, 'the chart spec has no data-chart-id');
          return;
        }
        if (seenIds.has(id)) {
          const reason =
            'duplicate chart id: an earlier chart spec on this page has the same data-chart-id, ' +
            'and each chart needs its own';
          fail(id, script, reason);
          return;
        }
        seenIds.add(id);

        if (!ChartJs) {
          fail(id, script, CHART_JS_MISSING);
          return;
        }
        try {
          jobs.push(Object.assign({ id, script }, prepareSpec(id, script)));
        } catch (error) {
          fail(id, script, error.message);
        }
      });

      if (jobs.length > 0) {
        ensureGlobalDefaults(jobs[0].canvas);
        await waitForChartFonts(readPalette(jobs[0].canvas).fontFamily);
      }

      paletteCache = new Map();
      jobs.forEach((job) => readPalette(job.canvas));
      try {
        for (const job of jobs) {
          try {
            drawSpec(job);
            settled.add(job.script);
            markDrawn(job.id, job.script);
          } catch (error) {
            fail(job.id, job.script, error.message);
          }
        }
      } finally {
        paletteCache = null;
      }
    } catch (error) {
      // If this runtime itself throws, every chart not yet settled fails with
      // that error, so the ready signal still comes.
      scripts.forEach((script, index) => {
        if (!settled.has(script)) {
          const id = script.dataset.chartId || `spec ${index + 1}`;
          fail(id, script, `the chart runtime stopped before drawing this chart: ${error.message}`);
        }
      });
    }

    announceReady();
  }

  // ==========================================================================
  // Helpers for charts written by hand
  // ==========================================================================

  // Merges plain objects recursively. Arrays and other values in `override`
  // replace those in `base`. Neither argument is modified.
  function mergeOptions(base, override) {
    const merged = Object.assign({}, base);
    for (const [key, value] of Object.entries(override || {})) {
      const mergeNested = isPlainObject(value) && isPlainObject(merged[key]);
      merged[key] = mergeNested ? mergeOptions(merged[key], value) : value;
    }
    return merged;
  }

  // Creates a chart on the canvas with the given id. On failure it records
  // the failure, shows it next to the canvas and returns null.
  // NOTE: unlike declarative charts, these draw at once without waiting for
  // the chart fonts, so a chart created before they load uses a fallback font.
  function createChart(canvasId, config) {
    const canvas = document.getElementById(canvasId);
    if (!ChartJs) {
      recordFailure(canvasId, CHART_JS_MISSING, canvas, null);
      return null;
    }
    if (!canvas) {
      recordFailure(canvasId, `canvas #${canvasId} not found`, null, null);
      return null;
    }
    try {
      return new ChartJs(canvas, config);
    } catch (error) {
      recordFailure(canvasId, `Chart.js could not create the chart: ${error.message}`, canvas, null);
      return null;
    }
  }

  // Bar chart of one unlabelled series, without a legend.
  function bar(canvasId, labels, data, options) {
    return createChart(canvasId, {
      type: 'bar',
      data: { labels, datasets: [{ data }] },
      options: mergeOptions({ plugins: { legend: { display: false } } }, options),
    });
  }

  // Line chart. Each dataset is {label, data, ...} and is filled unless it
  // sets `fill`.
  function line(canvasId, labels, datasets, options) {
    return createChart(canvasId, {
      type: 'line',
      data: { labels, datasets: datasets.map((dataset) => Object.assign({ fill: true }, dataset)) },
      options: mergeOptions({}, options),
    });
  }

  function pie(canvasId, labels, data, options) {
    return createChart(canvasId, {
      type: 'pie',
      data: { labels, datasets: [{ data }] },
      options: mergeOptions({}, options),
    });
  }

  // Scatter chart. Each dataset is {label, data: [{x, y}, ...], ...}.
  function scatter(canvasId, datasets, options) {
    return createChart(canvasId, {
      type: 'scatter',
      data: { datasets: datasets.map((dataset) => Object.assign({}, dataset)) },
      options: mergeOptions({}, options),
    });
  }

  function doughnut(canvasId, labels, data, options) {
    return createChart(canvasId, {
      type: 'doughnut',
      data: { labels, datasets: [{ data }] },
      options: mergeOptions({}, options),
    });
  }

  // Radar chart. Each dataset is {label, data, ...} with one value per label.
  function radar(canvasId, labels, datasets, options) {
    return createChart(canvasId, {
      type: 'radar',
      data: { labels, datasets: datasets.map((dataset) => Object.assign({}, dataset)) },
      options: mergeOptions({}, options),
    });
  }

  // ==========================================================================
  // Public interface and start-up
  // ==========================================================================

  window.CDLChart = {
    // The page palette, read from the first slide on every access.
    get colors() {
      return readPalette(null).chartColors;
    },
    get palette() {
      return readPalette(null);
    },
    getColor,
    getColorWithAlpha,
    getColors,
    fonts,

    bar,
    line,
    pie,
    scatter,
    doughnut,
    radar,

    // Resolves with {drawn: [ids], failed: [{id, reason}]} once every
    // declarative chart spec has drawn or failed.
    ready,
    // Every failure on the page, including those of the helpers above.
    failures,
    // Declarative charts by data-chart-id.
    charts,
  };

  if (ChartJs) {
    ChartJs.register(themePlugin);
    ensureGlobalDefaults(null);
    applyTypeOverrides();
    applyDatasetDefaults();
    watchMotionConditions();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', drawDeclarativeCharts, { once: true });
  } else {
    drawDeclarativeCharts();
  }
})();
