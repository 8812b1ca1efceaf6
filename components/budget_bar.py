from nicegui import ui


class BudgetBar(ui.column):
    """Dollars used of the budget, as a bar that turns amber past 80 % and red past 100 %."""

    def __init__(self, used_usd: float, budget_usd: float) -> None:
        super().__init__()
        self.classes('w-full gap-1')
        with self:
            self.label = ui.label().classes('text-caption text-grey-8')
            self.bar = ui.linear_progress(show_value=False, size='8px').props('instant-feedback rounded')
        self.set_amounts(used_usd, budget_usd)

    def set_amounts(self, used_usd: float, budget_usd: float) -> None:
        fraction = used_usd / budget_usd if budget_usd > 0 else (1.0 if used_usd > 0 else 0.0)
        self.bar.set_value(min(fraction, 1.0))
        color = 'negative' if fraction >= 1 else 'warning' if fraction >= 0.8 else 'positive'
        self.bar.props(f'color={color}')
        budget = f'${budget_usd:,.2f}' if budget_usd > 0 else 'no budget'
        self.label.set_text(f'${used_usd:,.2f} of {budget}' + (f' ({fraction:.0%})' if budget_usd > 0 else ''))
