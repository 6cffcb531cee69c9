import { Fragment, StrictMode, type ComponentType, type ReactNode } from 'react';

/** Each React suite runs twice: in StrictMode (double renders, effects run twice) and without. */
export const REACT_MODES: ReadonlyArray<{ readonly mode: string; readonly Wrapper: ComponentType<{ children?: ReactNode }> }> = [
  { mode: 'StrictMode', Wrapper: StrictMode },
  { mode: 'no StrictMode', Wrapper: Fragment },
];
