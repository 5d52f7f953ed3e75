// ECharts with only what the reports use; imported only by the reports route.
import * as echarts from 'echarts/core'
import { BarChart, FunnelChart, PieChart, LineChart } from 'echarts/charts'
import { GridComponent, LegendComponent, TooltipComponent, TitleComponent } from 'echarts/components'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, FunnelChart, PieChart, LineChart, GridComponent, LegendComponent, TooltipComponent, TitleComponent, CanvasRenderer])
export { echarts }
