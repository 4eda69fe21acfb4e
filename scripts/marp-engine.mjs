// The Marp engine livedeck runs: Marp Core with no network use, and the chart runtime appended.
//
// Marp Core's defaults fetch emoji images from a CDN, so emoji stay text here. MathJax renders
// formulas as inline SVG, which needs no web fonts. The runtime (Chart.js followed by
// theme/chart-defaults.js) is read from the file that LIVEDECK_RUNTIME names and appended once,
// after every slide, so charts are created from the page's own copy of Chart.js.
import { readFileSync } from 'node:fs'
import { Marp } from '@marp-team/marp-core'

const runtimePath = process.env.LIVEDECK_RUNTIME
if (!runtimePath) {
  throw new Error('LIVEDECK_RUNTIME is not set: run Marp through `livedeck build`, which sets it')
}
// A closing script tag inside the runtime would end the element early, so it is escaped.
const runtime = readFileSync(runtimePath, 'utf8').replace(/<\/script/gi, '<\\/script')
const runtimeTag = `<script>${runtime}</script>`

export default (constructorOptions) => {
  const marp = new Marp({
    ...constructorOptions,
    emoji: { shortcode: false, unicode: false },
    math: 'mathjax',
  })
  const render = marp.render.bind(marp)
  marp.render = (markdown, env) => {
    const rendered = render(markdown, env)
    if (Array.isArray(rendered.html)) {
      const html = [...rendered.html]
      html[html.length - 1] += runtimeTag
      return { ...rendered, html }
    }
    return { ...rendered, html: rendered.html + runtimeTag }
  }
  return marp
}
