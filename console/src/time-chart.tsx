/**
 * A live line chart (ECharts, tree-shaken: line series, grid, tooltip, legend, canvas) of series
 * sampled over time, one y axis per unit.
 */
import { LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { useEffect, useRef } from 'react';

echarts.use([LineChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

/** One series: `[time ms, value]` points on the y axis `axis` (0 left, 1 right). */
export interface ChartSeries {
  readonly name: string;
  readonly axis: 0 | 1;
  readonly points: readonly (readonly [number, number])[];
}

/** The chart; `units` names the y axes. `data-points` holds the number of points (for tests). */
export function TimeChart(props: {
  series: readonly ChartSeries[];
  units: readonly string[];
  label: string;
}) {
  const el = useRef<HTMLDivElement | null>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (el.current === null) return;
    const c = echarts.init(el.current);
    chart.current = c;
    const resize = () => c.resize();
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      c.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(
      {
        animation: false,
        tooltip: { trigger: 'axis' },
        legend: { top: 0 },
        grid: { left: 70, right: 70, top: 30, bottom: 30 },
        xAxis: { type: 'time' },
        yAxis: props.units.map((u) => ({ type: 'value', name: u, scale: false })),
        series: props.series.map((s) => ({
          name: s.name,
          type: 'line',
          showSymbol: false,
          yAxisIndex: s.axis,
          data: s.points.map((p) => [p[0], p[1]]),
        })),
      },
      { notMerge: true },
    );
  }, [props.series, props.units]);
  const points = props.series.reduce((n, s) => n + s.points.length, 0);
  return (
    <div
      ref={el}
      role="img"
      aria-label={props.label}
      data-points={points}
      style={{ height: 240, width: '100%' }}
    />
  );
}
